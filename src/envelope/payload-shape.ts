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

/**
 * Walks `value` with an explicit stack and stops at the first limit crossed.
 * Values and their depths sit in two parallel arrays, and objects are walked
 * with for...in rather than Object.values: this runs once per message, and
 * an object and an array per value made it several times slower. (A payload
 * from JSON.parse has no inherited enumerable properties to pick up.)
 */
export function checkPayloadShape(value: unknown, limits: PayloadLimits = DEFAULT_PAYLOAD_LIMITS): ShapeResult {
  const { maxDepth, maxValues } = limits;
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  let values = 0;
  while (stack.length) {
    const v = stack.pop();
    const depth = depths.pop()!;
    if (++values > maxValues) return { ok: false, reason: 'payload-too-large', detail: `payload holds more than ${maxValues} values` };
    if (v === null || typeof v !== 'object') continue;
    if (depth > maxDepth) return { ok: false, reason: 'payload-too-deep', detail: `payload nested deeper than ${maxDepth} levels` };
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        stack.push(v[i]);
        depths.push(depth + 1);
      }
    } else {
      for (const k in v) {
        stack.push((v as Record<string, unknown>)[k]);
        depths.push(depth + 1);
      }
    }
  }
  return OK;
}

const OK: ShapeResult = Object.freeze({ ok: true });
