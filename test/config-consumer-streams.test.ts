import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';

describe('SSE_CONSUMER_STREAMS', () => {
  it('opens one streaming pull per subscription unless told otherwise, and takes the count an operator sets', () => {
    expect(loadConfig({}).sse.consumer.streams).toBe(1);
    expect(loadConfig({ SSE_CONSUMER_STREAMS: '5' }).sse.consumer.streams).toBe(5);
  });

  it('refuses a count outside 1-10 at start, naming the variable', () => {
    expect(() => loadConfig({ SSE_CONSUMER_STREAMS: '0' })).toThrow(/SSE_CONSUMER_STREAMS/);
    expect(() => loadConfig({ SSE_CONSUMER_STREAMS: '11' })).toThrow(/SSE_CONSUMER_STREAMS/);
    expect(() => loadConfig({ SSE_CONSUMER_STREAMS: 'five' })).toThrow(/SSE_CONSUMER_STREAMS/);
  });
});
