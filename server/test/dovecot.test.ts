import net from 'node:net';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startDovecot } from './dovecot.js';

function greeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString());
    });
    socket.once('error', reject);
  });
}

describe('startDovecot', () => {
  it('runs private instances side by side, restarts on the same ports and cleans up', async () => {
    const [a, b] = await Promise.all([startDovecot(), startDovecot({ ssl: false })]);
    try {
      expect(
        new Set([a.imapPort, a.imapsPort, a.pop3Port, a.pop3sPort, b.imapPort, b.pop3Port]).size,
      ).toBe(6);
      expect(b.imapsPort).toBeUndefined();
      expect(await greeting(a.imapPort)).toMatch(/^\* OK .*STARTTLS/);
      expect(await greeting(b.imapPort)).not.toMatch(/STARTTLS/);
      expect(await greeting(a.pop3Port)).toMatch(/^\+OK/);

      const ports = [a.imapPort, a.pop3Port];
      const stopped = Date.now();
      await a.stop();
      expect(Date.now() - stopped).toBeLessThan(1_000);
      await expect(greeting(a.imapPort)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      await a.start();
      expect([a.imapPort, a.pop3Port]).toEqual(ports);
      expect(await greeting(a.imapPort)).toMatch(/^\* OK/);
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
    }
    expect(existsSync(a.dir)).toBe(false);
  });

  it('stores mail with doveadm and changes UIDVALIDITY while keeping the mail', async () => {
    const server = await startDovecot({ users: { alice: 'pw' } });
    try {
      await server.append('alice', 'Subject: one\r\n\r\n1\r\n');
      await server.append('alice', Buffer.from('Subject: two\r\n\r\n\xff\xfe 8-bit\r\n', 'latin1'));
      await server.append('alice', 'Subject: in folder\r\n\r\nf\r\n', 'Alerts');
      const before = await server.mailboxStatus('alice');
      expect(before).toMatchObject({ uidNext: 3, messages: 2 });
      const next = await server.resetUidValidity('alice');
      const after = await server.mailboxStatus('alice');
      expect(after.uidValidity).toBe(next);
      expect(next).toBeGreaterThan(before.uidValidity);
      expect(after.messages).toBe(2);
      expect((await server.mailboxStatus('alice', 'Alerts')).messages).toBe(1);
      await expect(server.addUser('alice', 'again')).rejects.toThrow(/exists/);
    } finally {
      await server.destroy();
    }
  });
});
