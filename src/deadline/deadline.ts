/**
 * Bounding a wait by a deadline. Every shutdown and stop path in the services
 * shares one budget (Cloud Run sends SIGKILL 10 s after SIGTERM), so each
 * step is given an absolute deadline in epoch milliseconds rather than a
 * duration of its own: a slow step leaves less to the next one instead of
 * pushing the whole path past the budget.
 *
 * The work itself is not cancelled when the deadline passes: the caller has
 * stopped waiting for it and carries on (what a promise does later is
 * ignored, a later rejection included).
 */

/** setTimeout fires at once past this (about 24.8 days), so longer waits are held to it. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * `work`'s value, or `late` if `deadline` (epoch ms; Infinity = none) passes
 * first. A rejection before the deadline is passed on.
 */
export function raceDeadline<T, L>(work: Promise<T>, deadline: number, late: L): Promise<T | L> {
  if (deadline === Infinity) return work;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<L>((resolve) => {
    timer = setTimeout(() => resolve(late), Math.min(LONGEST_TIMER_MS, Math.max(0, deadline - Date.now())));
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/** True if `work` settles, either way, before `deadline` (epoch ms; Infinity = none); false otherwise. */
export function settlesBy(work: Promise<unknown>, deadline: number): Promise<boolean> {
  return raceDeadline(
    work.then(
      () => true,
      () => true,
    ),
    deadline,
    false,
  );
}
