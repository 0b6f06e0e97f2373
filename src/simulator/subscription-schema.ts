/**
 * The executable subscriptions schema: SUBSCRIPTION_SDL with each root field
 * wired to the fan-out hub. Both protocols run operations through graphql-js
 * against this one schema, so validation errors are real GraphQL errors.
 *
 * A failing field (faults.failField) refuses new operations with that error
 * and turns each message of running ones into a result with errors.
 */
import type { GraphQLSchema, ValueNode } from 'graphql';
import { graphql } from './graphql-runtime.js';
import { CATALOG, bundledDocument } from '../catalog/catalog.js';
import type { FieldHub, Payload } from './field-hub.js';
import { SUBSCRIPTION_SDL } from './subscription-sdl.js';

const { GraphQLError, GraphQLScalarType, Kind, buildSchema, isObjectType, parse, validate } = graphql;

/** What every operation's context carries: how to drop its client when it cannot keep up. */
export interface OperationContext {
  readonly onOverflow: () => void;
}

function decimal(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new GraphQLError(`Decimal cannot represent ${String(value)}`);
  return Math.round(n * 100) / 100;
}

/** Sets the behaviour of a scalar declared in SDL (buildSchema gives it identity functions). */
export function defineScalar(schema: GraphQLSchema, name: string, fn: (v: unknown) => unknown): void {
  const type = schema.getType(name);
  if (!(type instanceof GraphQLScalarType)) throw new Error(`schema has no scalar ${name}`);
  Object.assign(type, {
    serialize: fn,
    parseValue: fn,
    parseLiteral: (ast: ValueNode) => {
      if (ast.kind !== Kind.INT && ast.kind !== Kind.FLOAT && ast.kind !== Kind.STRING) throw new GraphQLError(`${name} literal expected`);
      return fn(ast.value);
    },
  });
}

export function buildSubscriptionSchema(hub: FieldHub, failing: ReadonlyMap<string, string>): GraphQLSchema {
  const schema = buildSchema(SUBSCRIPTION_SDL);
  defineScalar(schema, 'Decimal', decimal);
  const query = schema.getQueryType()!;
  query.getFields().ping!.resolve = () => 'pong';
  const subscription = schema.getSubscriptionType();
  if (!subscription || !isObjectType(subscription)) throw new Error('subscription SDL has no Subscription type');
  const fields = subscription.getFields();
  for (const entry of CATALOG) {
    const field = fields[entry.rootField];
    if (!field) throw new Error(`subscription SDL lacks ${entry.rootField}`);
    const name = entry.rootField;
    field.subscribe = (_root: unknown, _args: unknown, ctx: OperationContext) => {
      const message = failing.get(name);
      if (message !== undefined) throw new GraphQLError(message);
      return hub.open(name, ctx.onOverflow);
    };
    field.resolve = (payload: Payload) => {
      const message = failing.get(name);
      if (message !== undefined) throw new GraphQLError(message);
      return payload;
    };
  }
  // The catalog's bundled documents are the fallback every client relies on: they must validate.
  for (const entry of CATALOG) {
    const errors = validate(schema, parse(bundledDocument(entry)));
    if (errors.length) throw new Error(`bundled document for ${entry.rootField} does not validate: ${errors[0]!.message}`);
  }
  return schema;
}
