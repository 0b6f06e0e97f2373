/**
 * The simulated clock: `speed` simulated seconds pass per real second while
 * it runs. Anything the simulator exposes as a time is projected onto the real
 * clock (when, in real time, that simulated moment will come at this speed), so
 * a browser countdown to the off is right.
 */
export class SimClock {
  private simAnchor: number;
  private realAnchor = Date.now();

  constructor(
    readonly speed: number,
    startSimMs: number,
    private running: boolean,
  ) {
    if (!(speed > 0)) throw new RangeError(`speed must be > 0, got ${speed}`);
    this.simAnchor = startSimMs;
  }

  get isRunning(): boolean {
    return this.running;
  }

  now(): number {
    return this.running ? this.simAnchor + (Date.now() - this.realAnchor) * this.speed : this.simAnchor;
  }

  /** Real epoch ms at which simulated `simMs` happens (as if the clock ran from now, when paused). */
  project(simMs: number): number {
    return Date.now() + (simMs - this.now()) / this.speed;
  }

  /** Real milliseconds until simulated `simMs` (0 if past, Infinity when paused). */
  realDelayUntil(simMs: number): number {
    if (!this.running) return Infinity;
    return Math.max(0, (simMs - this.now()) / this.speed);
  }

  pause(): void {
    this.simAnchor = this.now();
    this.running = false;
  }

  resume(): void {
    if (this.running) return;
    this.realAnchor = Date.now();
    this.running = true;
  }

  jumpTo(simMs: number): void {
    this.simAnchor = simMs;
    this.realAnchor = Date.now();
  }
}
