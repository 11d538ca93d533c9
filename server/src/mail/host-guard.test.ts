import { describe, expect, it } from 'vitest';
import { MailConnectError } from './errors.js';
import { assertPublicMailHost, classifyAddress, normalizeMailHost } from './host-guard.js';

async function refusal(host: string, allowPrivate = false): Promise<MailConnectError> {
  const err = await assertPublicMailHost(host, { allowPrivate }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, host).toBeInstanceOf(MailConnectError);
  return err as MailConnectError;
}

describe('assertPublicMailHost', () => {
  const blockedWithoutAllowPrivate: string[] = [
    '127.0.0.1',
    '127.1',
    '2130706433',
    '0x7f.1',
    '0x7f000001',
    '0177.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.10.10',
    '100.64.0.1',
    '100.127.255.255',
    '::1',
    '[::1]',
    'fe80::1',
    'fe80::1%eth0',
    'fc00::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '[::ffff:10.0.0.1]',
    '::127.0.0.1',
    '::ffff:0:127.0.0.1',
    '64:ff9b::10.0.0.1',
    '64:ff9b::7f00:1',
    '2002:7f00:1::1',
    '2002:c0a8:101::',
    'localhost',
  ];
  it.each(blockedWithoutAllowPrivate)('refuses %s as private', async (host) => {
    expect((await refusal(host)).code).toBe('blocked_host');
  });

  const alwaysBlocked: string[] = [
    '0.0.0.0',
    '0',
    '::',
    '169.254.169.254',
    '0xa9.0xfe.0xa9.0xfe',
    '::ffff:169.254.169.254',
    'fd00:ec2::254',
    '224.0.0.1',
    '239.255.255.250',
    'ff02::1',
    '255.255.255.255',
    '240.0.0.1',
  ];
  it.each(alwaysBlocked)('refuses %s even with allowPrivate', async (host) => {
    expect((await refusal(host, true)).code).toBe('blocked_host');
  });

  it.each([
    '8.8.8.8',
    '93.184.216.34',
    '2606:4700::1111',
    '[2a00:1450:4001:80b::200e]',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '134744072',
  ])('accepts public address %s', async (host) => {
    const target = await assertPublicMailHost(host, { allowPrivate: false });
    expect(target.servername).toBeUndefined();
    expect(classifyAddress(target.address)).toBe('public');
  });

  it('returns the resolved address and keeps the name for TLS', async () => {
    const target = await assertPublicMailHost('localhost', { allowPrivate: true });
    expect(['127.0.0.1', '::1']).toContain(target.address);
    expect(target.servername).toBe('localhost');
  });

  it('refuses a name when any of its addresses is private (DNS rebinding)', async () => {
    const resolve = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ];
    const err = await assertPublicMailHost('mail.example.com', {
      allowPrivate: false,
      resolve,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'blocked_host' });
    expect((err as Error).message).toContain('10.0.0.5');
  });

  it('uses the resolver answer for a public name', async () => {
    const resolve = async () => [{ address: '2a00:1450:4001:80b::200e', family: 6 }];
    await expect(
      assertPublicMailHost('imap.gmail.com', { allowPrivate: false, resolve }),
    ).resolves.toEqual({
      address: '2a00:1450:4001:80b::200e',
      family: 6,
      servername: 'imap.gmail.com',
    });
  });

  it("maps a name that does not resolve to 'dns'", async () => {
    const resolve = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    await expect(
      assertPublicMailHost('nope.invalid', { allowPrivate: false, resolve }),
    ).rejects.toMatchObject({ code: 'dns' });
  });

  it.each([
    '',
    '1.2.3.256',
    'exa mple.com',
    'a::b::c',
    '[::1',
    'evil.com@127.0.0.1',
    '127.0.0.1/x',
  ])("rejects malformed host %j with 'dns'", async (host) => {
    expect((await refusal(host, true)).code).toBe('dns');
  });
});

describe('normalizeMailHost', () => {
  it('lower-cases names and drops a trailing dot', () => {
    expect(normalizeMailHost('IMAP.Gmail.com.')).toEqual({ name: 'imap.gmail.com' });
  });
});
