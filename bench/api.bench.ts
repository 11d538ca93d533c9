import { ensureWrk, fmtLoad, fmtRate, runWrk, signupBench, startApiProcess } from './harness.js';
import type { Bench } from './run.js';

const CONNECTIONS = 32;

/** The real `notifypro api` over the machine's PostgreSQL, wrk as the client: /healthz and /me. */
const bench: Bench = {
  name: 'api',
  async run() {
    ensureWrk();
    const api = await startApiProcess();
    try {
      const { token } = await signupBench(api.base);
      const health = runWrk(api, { path: '/healthz', seconds: 5, connections: CONNECTIONS });
      const me = runWrk(api, {
        path: '/api/v1/me',
        seconds: 5,
        connections: CONNECTIONS,
        headers: { authorization: `Bearer ${token}` },
      });
      return [
        {
          bench: 'api',
          metric: 'GET /healthz',
          value: fmtRate(health),
          note: fmtLoad(health, CONNECTIONS),
        },
        {
          bench: 'api',
          metric: 'GET /api/v1/me (session + memberships from PostgreSQL)',
          value: fmtRate(me),
          note: fmtLoad(me, CONNECTIONS),
        },
      ];
    } finally {
      await api.stop();
    }
  },
};
export default bench;
