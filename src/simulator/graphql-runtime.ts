/**
 * The one graphql instance the simulator uses at run time.
 *
 * graphql ships both a CommonJS build (index.js) and an ES build (index.mjs)
 * and has no "exports" map. graphql-ws, loaded natively by Node, always gets
 * the CommonJS build; a bundler-style resolver (vitest's) gives our own
 * `import 'graphql'` the ES build. Two instances break graphql's instanceof
 * checks ("Cannot use GraphQLSchema from another module or realm"). Loading
 * it with require puts the simulator in the same instance as graphql-ws under
 * tsx and under vitest alike. Types still come from `import type`.
 */
import { createRequire } from 'node:module';

export const graphql = createRequire(import.meta.url)('graphql') as typeof import('graphql');
