// @ts-check
// Lint: `npm run lint` (ESLint, type-aware, then `prettier --check`). Findings present when the linter
// was introduced are recorded in eslint-suppressions.json: they do not fail the run, anything new does.
// Fixing one: `npx eslint --prune-suppressions .` drops its entry.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'cdktf.out/',
      '.gen/',
      'coverage/',
      'test-artifacts/',
      'data/',
      // The stacks are their own package (infra/package.json, infra/tsconfig.json) with CDKTF installed
      // beside them only for synth and its tests; linting them needs that install.
      'infra/',
      'test/infra*.test.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        // Each file is checked with the tsconfig nearest to it (the browser code has its own).
        projectService: { allowDefaultProject: ['eslint.config.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Tote's payloads are JSON whose shape the code reads defensively; typing every access through
      // `unknown` is a refactor of its own (about 540 findings today), not a lint switch.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // Async methods that implement a Promise-returning interface need no await.
      '@typescript-eslint/require-await': 'off',
      // A leading underscore marks a parameter kept for its position (Express error handlers, interfaces).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // tsc checks names, in the browser code too (src/sse/public/tsconfig.json); ESLint's list of globals would only disagree with it.
      'no-undef': 'off',
      // The promise rules are the point of type-aware linting: a dropped promise loses its error.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Passing on a caught value (or an async iterator's throw() argument) keeps what was thrown; the rule is
      // about inventing non-Error reasons, which stays an error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
);
