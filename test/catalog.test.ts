import { describe, expect, it } from 'vitest';
import { Kind, parse } from 'graphql';
import { CATALOG, DEAD_LETTER_TOPIC, bundledDocument, topicFor, entryForRootField } from '../src/catalog/catalog.js';

describe('catalog', () => {
  it('lists all 15 Tote subscriptions once each, each with its own topic', () => {
    expect(CATALOG).toHaveLength(15);
    expect(new Set(CATALOG.map((e) => e.rootField)).size).toBe(15);
    expect(new Set(CATALOG.map((e) => e.topic)).size).toBe(15);
    expect(CATALOG.map((e) => e.topic)).not.toContain(DEAD_LETTER_TOPIC);
  });

  it('names topics from message types', () => {
    expect(topicFor('PoolTotalChanged')).toBe('tote-pool-total-changed');
    expect(entryForRootField('onBetAccepted')?.topic).toBe('tote-bet-accepted');
  });

  it('bundles a parseable single-root-field subscription document per entry, selecting its keys', () => {
    for (const entry of CATALOG) {
      const doc = parse(bundledDocument(entry));
      const op = doc.definitions[0];
      expect(op?.kind).toBe('OperationDefinition');
      if (op?.kind !== Kind.OPERATION_DEFINITION) continue;
      expect(op.operation).toBe('subscription');
      expect(op.selectionSet.selections).toHaveLength(1);
      for (const key of entry.keys) expect(entry.selection).toContain(key.name);
      expect(entry.keys.map((k) => k.name)).toContain(entry.orderingKey);
    }
  });
});
