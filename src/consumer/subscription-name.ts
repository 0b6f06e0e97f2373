/**
 * Pub/Sub subscription ids: 3-255 characters, starting with a letter, from
 * [A-Za-z0-9-_.~+%], never starting with "goog". Each SSE instance owns one
 * per topic, named `<prefix>-<instanceId>-<topic>` so an operator can tell
 * whose they are and delete an orphan by prefix.
 */
const MAX_LENGTH = 255;

export function subscriptionNameFor(prefix: string, instanceId: string, topic: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9\-_.~+]/g, '-');
  let name = `${clean(prefix)}-${clean(instanceId)}-${clean(topic)}`;
  if (!/^[A-Za-z]/.test(name) || name.toLowerCase().startsWith('goog')) name = 's-' + name;
  if (name.length > MAX_LENGTH) {
    // Keep the topic whole (it tells the subscriptions of one instance apart) and cut the instance id.
    const tail = `-${clean(topic)}`;
    name = name.slice(0, MAX_LENGTH - tail.length) + tail;
  }
  return name;
}
