/**
 * Limits on the shape of a payload before it becomes an envelope. JSON.parse
 * accepts any nesting, but every later step (JSON.stringify for the bus and
 * history, the dashboard) recurses, and a payload some thousands of levels
 * deep overflows the stack there, far from the frame that caused it. Checking
 * here, once, without recursion, turns such a payload into a dead letter
 * instead of a crash.
 */
export interface PayloadLimits {
  /**
   * Deepest nesting accepted. The deepest catalog document selects about
   * 6 levels; 64 leaves room for Tote to grow while staying far below the
   * few thousand levels at which JSON.stringify overflows.
   * @default 64
   */
  maxDepth: number;
  /**
   * Most values (objects, arrays and scalars) in one payload. A frame is
   * already bounded in bytes by the socket; this bounds the work of a
   * payload of many tiny values.
   * @default 200_000
   */
  maxValues: number;
}

export const DEFAULT_PAYLOAD_LIMITS: PayloadLimits = { maxDepth: 64, maxValues: 200_000 };

export type ShapeResult = { ok: true } | { ok: false; reason: 'payload-too-deep' | 'payload-too-large'; detail: string };

/** Walks `value` with an explicit stack and stops at the first limit crossed. */
export function checkPayloadShape(value: unknown, limits: PayloadLimits = DEFAULT_PAYLOAD_LIMITS): ShapeResult {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 1 }];
  let values = 0;
  while (stack.length) {
    const { v, depth } = stack.pop()!;
    values++;
    if (values > limits.maxValues)
      return { ok: false, reason: 'payload-too-large', detail: `payload holds more than ${limits.maxValues} values` };
    if (v === null || typeof v !== 'object') continue;
    if (depth > limits.maxDepth)
      return { ok: false, reason: 'payload-too-deep', detail: `payload nested deeper than ${limits.maxDepth} levels` };
    const children = Array.isArray(v) ? v : Object.values(v as Record<string, unknown>);
    for (const c of children) stack.push({ v: c, depth: depth + 1 });
  }
  return { ok: true };
}
