import { randomBytes, randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { startDeliveryKit, type DeliveryKit } from '../../test/delivery-kit.js';
import { insertBot, signup, type SignedUp } from '../../test/factories.js';
import { attachments, deliveries, rules } from '../db/schema.js';
import { ingestEvent } from '../modules/events/service.js';
import { mailEventInput } from '../worker/mail-event.js';

const uploadLimit = 200_000;
let t: TestApp;
let owner: SignedUp;
let kit: DeliveryKit;

beforeAll(async () => {
  t = await createTestApp({ TELEGRAM_UPLOAD_LIMIT_BYTES: String(uploadLimit) });
  owner = await signup(t);
  kit = await startDeliveryKit(t, owner.orgId, { chats: 3 });
}, 30_000);
afterAll(async () => {
  await kit?.close();
  await t?.close();
});

const post = (payload: object) =>
  t.request({
    method: 'POST',
    url: `/api/v1/orgs/${owner.orgId}/notifications`,
    token: owner.token,
    payload,
  });
async function settled(ids: string[], timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const rows = await t.deps.db.select().from(deliveries);
    const mine = rows.filter((d) => ids.includes(d.id) || ids.includes(d.notificationId));
    if (mine.length && mine.every((d) => ['sent', 'failed', 'dead'].includes(d.status)))
      return mine;
    if (Date.now() > end) throw new Error(`not settled: ${JSON.stringify(mine)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// A real 1×1 PNG.
const png = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);

describe('attachments', () => {
  it('POST with files: the image as a photo captioned (≤ 1024), the rest of the text as a message, the PDF as a document, bytes intact', async () => {
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(150_000)]);
    const text = `<b>Report</b> & <script>x</script> ${'word '.repeat(400)}the end`;
    const res = await post({
      text,
      format: 'html',
      chatIds: [kit.chatIds[0]],
      attachments: [
        { filename: 'chart.png', content: png.toString('base64') },
        { filename: 'report.pdf', contentType: 'application/pdf', content: pdf.toString('base64') },
      ],
    });
    expect(res.statusCode).toBe(202);
    const [d] = await settled([res.json().deliveries[0].id]);
    expect(d!.status).toBe('sent');
    expect(d!.telegramMessageIds).toHaveLength(3);
    const got = kit.fake.messages({ chatId: kit.telegramChatIds[0] });
    expect(got.map((m) => m.method)).toEqual(['sendPhoto', 'sendMessage', 'sendDocument']);
    const [photo, rest, doc] = got;
    expect(photo!.plainText.length).toBeLessThanOrEqual(1024);
    expect(photo!.plainText.startsWith('Report & ')).toBe(true);
    expect(photo!.entities[0]).toMatchObject({ type: 'bold', offset: 0, length: 6 });
    expect(rest!.plainText.endsWith('the end')).toBe(true);
    expect((photo!.plainText + ' ' + rest!.plainText).replace(/\s+/g, ' ')).toBe(
      `Report & ${'word '.repeat(400)}the end`.replace(/\s+/g, ' '),
    );
    expect(kit.fake.fileContent(photo!.photo!.file_id)!.equals(png)).toBe(true);
    expect(doc!.document!.file_name).toBe('report.pdf');
    expect(kit.fake.fileContent(doc!.document!.file_id)!.equals(pdf)).toBe(true);
    const stored = await t.deps.db
      .select()
      .from(attachments)
      .where(eq(attachments.notificationId, d!.notificationId));
    expect(stored.map((a) => [a.filename, a.contentType, a.size, a.position])).toEqual([
      ['chart.png', 'image/png', png.length, 0],
      ['report.pdf', 'application/pdf', pdf.length, 1],
    ]);
  });

  it('refuses a file over the upload limit, and a body that is not base64, with problem+json', async () => {
    const big = await post({
      text: 'x',
      chatIds: [kit.chatIds[0]],
      attachments: [
        { filename: 'big.bin', content: randomBytes(uploadLimit + 1).toString('base64') },
      ],
    });
    expect(big.statusCode).toBe(400);
    expect(big.headers['content-type']).toContain('application/problem+json');
    expect(JSON.stringify(big.json())).toContain('attachments.0.content');
    const bad = await post({
      text: 'x',
      chatIds: [kit.chatIds[0]],
      attachments: [{ filename: 'a', content: '%%% not base64 %%%' }],
    });
    expect(bad.statusCode).toBe(400);
  });

  it('a rule with includeAttachments forwards the mail files; one over the limit becomes a note, inline images stay out', async () => {
    await t.deps.db.insert(rules).values({
      orgId: owner.orgId,
      name: 'with files',
      conditions: [{ field: 'subject', op: 'contains', value: 'Invoice' }],
      targets: [{ chatId: kit.chatIds[1]! }],
      includeAttachments: true,
    });
    await t.deps.db.insert(rules).values({
      orgId: owner.orgId,
      name: 'without files',
      conditions: [{ field: 'subject', op: 'contains', value: 'Invoice' }],
      targets: [{ chatId: kit.chatIds[2]! }],
    });
    const small = Buffer.from('id;amount\n1;5 €\n');
    const big = randomBytes(uploadLimit + 50_000);
    const b64 = (b: Buffer) => b.toString('base64').replace(/.{76}/g, '$&\r\n');
    const raw = Buffer.from(
      [
        'From: Billing <billing@example.com>',
        'To: ops@example.com',
        'Subject: Invoice <42> & more',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: multipart/related; boundary="b2"',
        '',
        '--b2',
        'Content-Type: text/html; charset=utf-8',
        '',
        '<p>See <b>attached</b> <img src="cid:logo"></p>',
        '--b2',
        'Content-Type: image/png',
        'Content-ID: <logo>',
        'Content-Disposition: inline; filename="logo.png"',
        'Content-Transfer-Encoding: base64',
        '',
        b64(png),
        '--b2--',
        '--b1',
        'Content-Type: text/csv; name="rows.csv"',
        'Content-Disposition: attachment; filename="rows.csv"',
        'Content-Transfer-Encoding: base64',
        '',
        b64(small),
        '--b1',
        'Content-Type: application/octet-stream; name="dump.bin"',
        'Content-Disposition: attachment; filename="dump.bin"',
        'Content-Transfer-Encoding: base64',
        '',
        b64(big),
        '--b1--',
        '',
      ].join('\r\n'),
    );
    const input = await mailEventInput({ id: randomUUID(), name: 'inbox' }, raw, {});
    const result = await ingestEvent({ db: t.deps.db }, owner.orgId, {
      ...input,
      mailboxId: null,
    });
    expect(result?.matchedRuleIds).toHaveLength(2);
    const rows = await settled(
      (await t.deps.db.select().from(deliveries))
        .filter((d) => d.status !== 'sent')
        .map((d) => d.id),
    );
    expect(rows.every((d) => d.status === 'sent')).toBe(true);

    const withFiles = kit.fake.messages({ chatId: kit.telegramChatIds[1] });
    expect(withFiles.map((m) => m.method)).toEqual(['sendDocument']);
    const [doc] = withFiles;
    expect(doc!.document!.file_name).toBe('rows.csv');
    expect(kit.fake.fileContent(doc!.document!.file_id)!.equals(small)).toBe(true);
    expect(doc!.plainText).toContain('Invoice <42> & more');
    expect(doc!.plainText).toMatch(
      /📎 dump\.bin \(24\d KB\) — over Telegram's upload limit, not sent/,
    );

    const withoutFiles = kit.fake.messages({ chatId: kit.telegramChatIds[2] });
    expect(withoutFiles.map((m) => m.method)).toEqual(['sendMessage']);
    expect(withoutFiles[0]!.plainText).toContain('Invoice <42> & more');
  });

  it('gives a runner only the files of its own deliveries', async () => {
    const otherToken = `npr_other_${randomBytes(8).toString('hex')}`;
    await insertBot(t, owner.orgId, { name: 'other', runnerToken: otherToken, status: 'stopped' });
    const [file] = await t.deps.db.select().from(attachments).limit(1);
    const get = (id: string, token: string) =>
      t.app.inject({
        method: 'GET',
        url: `/internal/v1/attachments/${id}`,
        headers: { authorization: `Bearer ${token}` },
      });
    expect((await get(file!.id, otherToken)).statusCode).toBe(404);
    expect((await get(randomUUID(), otherToken)).statusCode).toBe(404);
  });
});
