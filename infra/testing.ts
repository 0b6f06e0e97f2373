/**
 * CDKTF's test helpers for test/infra*.test.ts. CDKTF is installed in
 * infra/node_modules, which Node only finds from files under infra/, so the
 * tests take it from here rather than importing 'cdktf' themselves.
 */
export { Testing } from 'cdktf';
