import { describe, expect, it } from 'vitest';
import { bundledDocument, entryForRootField } from '../src/catalog/catalog.js';
import { documentDepth, pruneDocument } from '../src/tote/selection-depth.js';

const squash = (s: string | null) => s?.replace(/\s+/g, ' ').trim() ?? null;

describe('document depth, as depth-limiting servers count it', () => {
  it('counts the root field as 1 and each nested selection one more, inline fragments adding none', () => {
    expect(documentDepth('subscription { a { b c } }')).toBe(2);
    expect(documentDepth('subscription { a { b { c { d } } e } }')).toBe(4);
    expect(documentDepth('subscription { a { ... on X { b { c } } } }')).toBe(3);
    // The bundled dividend document is the deepest Tote is asked for.
    expect(documentDepth(bundledDocument(entryForRootField('onPoolDividendChanged')!))).toBe(6);
  });
});

describe('a shallower document', () => {
  it('leaves out what is deeper than the limit, and object fields left with nothing to select', () => {
    expect(squash(pruneDocument('subscription S { a { id b { c { d } } e { f } } }', 3))).toBe('subscription S { a { id e { f } } }');
    expect(squash(pruneDocument('subscription { a { id b { c } } }', 2))).toBe('subscription { a { id } }');
    expect(squash(pruneDocument('subscription { a { id ... on X { b { c } } } }', 2))).toBe('subscription { a { id } }');
  });

  it('keeps the top-level fields the entity keys come from', () => {
    const doc = pruneDocument(bundledDocument(entryForRootField('onPoolDividendChanged')!), 2)!;
    expect(documentDepth(doc)).toBe(2);
    expect(doc).toContain('productId');
  });

  it('is null when nothing selectable would be left', () => {
    expect(pruneDocument('subscription { a { b { c } } }', 2)).toBeNull();
    expect(pruneDocument('subscription { a { __typename b { c } } }', 2)).toBeNull();
    expect(pruneDocument('subscription { a { b } }', 1)).toBeNull();
  });
});
