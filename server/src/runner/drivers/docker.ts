import Docker from 'dockerode';
import type { RunnerDriver, RunnerExitInfo, RunnerHandle, RunnerSpec } from './driver.js';
import { defaultRunnerNodeFlags } from './process.js';

export const runnerLabel = 'org.notifypro.bot';
const roleLabel = 'org.notifypro.role';

export type DockerDriverOptions = {
  docker?: Docker;
  socketPath?: string;
  /** The NotifyPro image (its entrypoint is `notifypro`, so the command is `runner`). */
  image: string;
  /** `host` by default: the runner reaches INTERNAL_API_URL and Telegram as the host does. */
  network?: string;
  /** Command override, e.g. for an image without the NotifyPro entrypoint. */
  cmd?: string[];
  binds?: string[];
  workingDir?: string;
  user?: string;
  memoryBytes?: number;
  stopGraceSeconds?: number;
  /** How often a container's state is read to notice that it ended. */
  pollMs?: number;
};

/**
 * Each runner is its own container, labelled with its bot id, under an on-failure restart
 * policy (the engine brings a crashed runner back by itself; the supervisor takes over when
 * the engine gives up). Containers are removed when their runner is stopped.
 */
export function createDockerDriver(options: DockerDriverOptions): RunnerDriver {
  const docker =
    options.docker ?? new Docker({ socketPath: options.socketPath ?? '/var/run/docker.sock' });
  const pollMs = options.pollMs ?? 1_000;
  const nameOf = (botId: string) => `notifypro-bot-${botId}`;

  async function removeQuietly(container: Docker.Container) {
    await container.remove({ force: true }).catch(() => {});
  }

  return {
    name: 'docker',
    async cleanup() {
      const left = await docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${roleLabel}=runner`] }),
      });
      await Promise.all(left.map((c) => removeQuietly(docker.getContainer(c.Id))));
    },
    async start(spec: RunnerSpec): Promise<RunnerHandle> {
      await removeQuietly(docker.getContainer(nameOf(spec.botId)));
      const container = await docker.createContainer({
        name: nameOf(spec.botId),
        Image: options.image,
        // The image's own CLI with the runners' V8 flags (see process.ts), unless overridden.
        ...(options.cmd
          ? { Cmd: options.cmd }
          : {
              Entrypoint: ['node', ...defaultRunnerNodeFlags, 'server/bin/notifypro.js'],
              Cmd: ['runner'],
            }),
        ...(options.workingDir ? { WorkingDir: options.workingDir } : {}),
        ...(options.user ? { User: options.user } : {}),
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        Labels: { [runnerLabel]: spec.botId, [roleLabel]: 'runner' },
        // The image's HEALTHCHECK probes the api's /healthz; a runner serves no HTTP.
        Healthcheck: { Test: ['NONE'] },
        HostConfig: {
          NetworkMode: options.network ?? 'host',
          RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
          Memory: options.memoryBytes ?? 256 * 1024 * 1024,
          ...(options.binds ? { Binds: options.binds } : {}),
        },
      });
      await container.start();
      let ended = false;
      const exited = (async (): Promise<RunnerExitInfo> => {
        // The restart policy's own restarts are not an end: wait until the engine gives up.
        for (;;) {
          await new Promise((r) => setTimeout(r, pollMs));
          if (ended) return { code: 0, signal: null };
          let state: Docker.ContainerInspectInfo['State'];
          try {
            state = (await container.inspect()).State;
          } catch {
            return { code: null, signal: 'removed' };
          }
          if (!state.Running && !state.Restarting && state.Status !== 'created') {
            const settled = await new Promise((r) => setTimeout(r, pollMs)).then(() =>
              container.inspect().then(
                (i) => !i.State.Running && !i.State.Restarting,
                () => true,
              ),
            );
            if (settled) {
              await removeQuietly(container);
              return { code: state.ExitCode, signal: state.OOMKilled ? 'OOM' : null };
            }
          }
        }
      })();
      return {
        id: container.id,
        exited,
        async stop() {
          ended = true;
          await container.stop({ t: options.stopGraceSeconds ?? 8 }).catch(() => {});
          await removeQuietly(container);
        },
        async kill() {
          await container.kill({ signal: 'SIGKILL' }).catch(() => {});
        },
      };
    },
  };
}
