/**
 * Holds connections and control commands that arrive while the daemon starts. Sockets are listening (systemd may
 * even have queued connections on them) before the control socket is bound and before `--user` gives up root;
 * nothing may be served until then, and nothing at all if start-up fails.
 */
export class StartGate {
  #open = false;
  #decide!: (opened: boolean) => void;
  readonly #decided = new Promise<boolean>((resolve) => (this.#decide = resolve));

  /** Runs `work` once the gate is open, or `refuse` instead if start-up failed. */
  through<T>(work: () => T | Promise<T>, refuse: () => T): Promise<T> {
    return this.#decided.then((opened) => (opened ? work() : refuse()));
  }

  /** Start-up is complete: lets everything through, now and from now on. */
  open(): void {
    this.#open = true;
    this.#decide(true);
  }

  /** True once {@link open} was called: callers may skip {@link through} (a promise per call) from then on. */
  get isOpen(): boolean {
    return this.#open;
  }

  /** Start-up failed: refuses everything held. */
  fail(): void {
    this.#decide(false);
  }
}
