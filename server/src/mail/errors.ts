/** Why a mail server could not be used; `message` is fit to show to the person who set it up. */
export type MailConnectErrorCode =
  | 'dns'
  | 'refused'
  | 'timeout'
  | 'tls'
  | 'auth'
  | 'folder_missing'
  | 'protocol'
  /** An established connection went away (server restart, network drop, idle kick). */
  | 'closed'
  /** The host resolves to an address NotifyPro must not connect to (see host-guard.ts). */
  | 'blocked_host';

export class MailConnectError extends Error {
  override readonly name = 'MailConnectError';
  constructor(
    readonly code: MailConnectErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Node's socket/DNS/TLS error codes → our codes; `undefined` when the error is none of those. */
export function classifyNetworkError(
  err: unknown,
  host: string,
  port: number,
): MailConnectError | undefined {
  const e = err as NodeJS.ErrnoException & { library?: string; reason?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  const where = `${host}:${port}`;
  if (
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'EAI_FAIL' ||
    code === 'EAI_NODATA' ||
    code === 'EAI_NONAME'
  ) {
    return new MailConnectError(
      'dns',
      `The mail server name "${host}" could not be resolved (${code}).`,
      { cause: err },
    );
  }
  if (code === 'ECONNREFUSED') {
    return new MailConnectError(
      'refused',
      `Nothing accepts connections at ${where}: check the host and the port.`,
      {
        cause: err,
      },
    );
  }
  if (
    code === 'ETIMEDOUT' ||
    code === 'ETIMEOUT' ||
    code === 'CONNECT_TIMEOUT' ||
    code === 'GREETING_TIMEOUT' ||
    code === 'UPGRADE_TIMEOUT'
  ) {
    return new MailConnectError('timeout', `The mail server at ${where} did not answer in time.`, {
      cause: err,
    });
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') {
    return new MailConnectError(
      'refused',
      `The mail server at ${where} cannot be reached (${code}).`,
      { cause: err },
    );
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return new MailConnectError('closed', `The mail server at ${where} closed the connection.`, {
      cause: err,
    });
  }
  if (isTlsError(e)) {
    return new MailConnectError('tls', `TLS with ${where} failed: ${describeTlsError(e)}.`, {
      cause: err,
    });
  }
  return undefined;
}

const TLS_CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

function isTlsError(e: NodeJS.ErrnoException & { library?: string }): boolean {
  const code = e?.code ?? '';
  return (
    TLS_CERT_CODES.has(code) ||
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    e?.library === 'SSL routines'
  );
}

function describeTlsError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return 'the server presents a self-signed certificate';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
      return 'the server certificate is not signed by a trusted authority';
    case 'CERT_HAS_EXPIRED':
      return 'the server certificate has expired';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'the server certificate is for a different host name';
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return 'the port does not speak TLS (try STARTTLS or the TLS port)';
    default:
      return e.message;
  }
}

/** A short, single-line version of a server's text, safe to put in a message. */
export function serverText(text: unknown, max = 200): string {
  const s = typeof text === 'string' ? text : '';
  return s
    .replace(/[\r\n]+/g, ' ')
    .trim()
    .slice(0, max);
}

/** The server refused the login (for OAuth2: the access token — worth one refresh). */
export const isAuthFailure = (err: unknown) =>
  err instanceof MailConnectError && err.code === 'auth';
