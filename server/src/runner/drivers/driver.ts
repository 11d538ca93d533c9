/** What a driver needs to start one bot's runner: its bot and the environment of the runner process. */
export type RunnerSpec = { botId: string; env: Record<string, string> };

export type RunnerExitInfo = { code: number | null; signal: string | null };

/** One running runner, however it is isolated. */
export interface RunnerHandle {
  /** A process id or a container id. */
  readonly id: string;
  /** Resolves once the runner has ended for good (a docker restart policy's own restarts excluded). */
  readonly exited: Promise<RunnerExitInfo>;
  /** Asks it to end (SIGTERM, then SIGKILL after a grace period); resolves when it has. */
  stop(): Promise<void>;
  /** Ends it at once (what a hung runner gets). */
  kill(): Promise<void>;
}

/** How runners are isolated: a child process each, or a container each. */
export interface RunnerDriver {
  readonly name: 'process' | 'docker';
  start(spec: RunnerSpec): Promise<RunnerHandle>;
  /** Removes runners a previous supervisor left behind (containers outlive their supervisor). */
  cleanup?(): Promise<void>;
}
