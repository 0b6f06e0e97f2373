/**
 * Ways a real Tote (a HotChocolate server) may refuse what a client asks,
 * switched on at run time by the faults API: a depth limit and fields its
 * validation refuses (both checked on every document, subscriptions over
 * either protocol and HTTP queries alike), refusals sent the way
 * HotChocolate's legacy handler sends them, and a connection_error that is
 * not about the key.
 */
import type { ValidationRule } from 'graphql';
import { graphql } from './graphql-runtime.js';

const { GraphQLError, Kind } = graphql;

export interface ProtocolFaults {
  /** Refuse documents deeper than this (root field = 1); null: no limit. */
  maxDepth: number | null;
  /** Refuse documents that select any of these field names. */
  readonly refusedFields: Set<string>;
  /** Legacy protocol: refuse an operation as `data` with errors and no data, then `complete`, instead of `error`. */
  refusalsAsData: boolean;
  /** Legacy protocol: answer connection_init with this connection_error payload (a valid key or not); null: off. */
  initError: Record<string, unknown> | null;
}

export function noProtocolFaults(): ProtocolFaults {
  return { maxDepth: null, refusedFields: new Set(), refusalsAsData: false, initError: null };
}

/** The validation rule behind maxDepth and refusedFields, worded as HotChocolate words them. */
export function faultRule(faults: ProtocolFaults): ValidationRule {
  return (context) => {
    let depth = 0;
    let deepest = 0;
    return {
      OperationDefinition: {
        enter() {
          depth = deepest = 0;
        },
        leave(node) {
          // HotChocolate leaves introspection out of the depth count: a client must still be able to read the schema.
          const introspection = node.selectionSet.selections.every((sel) => sel.kind === Kind.FIELD && sel.name.value.startsWith('__'));
          if (faults.maxDepth !== null && deepest > faults.maxDepth && !introspection) {
            context.reportError(
              new GraphQLError(
                `The GraphQL document has an execution depth of ${deepest} which exceeds the max allowed execution depth of ${faults.maxDepth}.`,
                { nodes: node, extensions: { code: 'HC0049' } },
              ),
            );
          }
        },
      },
      Field: {
        enter(node) {
          depth++;
          deepest = Math.max(deepest, depth);
          if (faults.refusedFields.has(node.name.value)) {
            context.reportError(new GraphQLError(`The field \`${node.name.value}\` is not available to this client.`, { nodes: node }));
          }
        },
        leave() {
          depth--;
        },
      },
    };
  };
}
