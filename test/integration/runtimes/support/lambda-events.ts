/** A Lambda Function URL request event, payload format 2.0, as Lambda sends it. */
export interface FunctionUrlEvent {
  version: '2.0';
  routeKey: '$default';
  rawPath: string;
  rawQueryString: string;
  headers: Record<string, string>;
  requestContext: {
    accountId: string;
    apiId: string;
    domainName: string;
    domainPrefix: string;
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string };
    requestId: string;
    routeKey: '$default';
    stage: '$default';
    time: string;
    timeEpoch: number;
  };
  body?: string;
  isBase64Encoded: boolean;
}

/** The answer a Function URL turns into an HTTP response. */
export interface FunctionUrlResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

const DOMAIN = 'abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws';

/**
 * Builds the event Lambda delivers for an HTTP request to a Function URL (`AuthType: NONE`). Header names are
 * lower-case, as Lambda sends them.
 *
 * @example
 * functionUrlEvent('POST', '/v1/alerts', { body: payload, token: TOKEN })
 */
export function functionUrlEvent(
  method: string,
  path: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
): FunctionUrlEvent {
  const [rawPath = path, rawQueryString = ''] = path.split('?');
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers: {
      host: DOMAIN,
      'user-agent': 'Alertmanager/0.25.0',
      'x-forwarded-proto': 'https',
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    requestContext: {
      accountId: 'anonymous',
      apiId: DOMAIN.split('.')[0] ?? '',
      domainName: DOMAIN,
      domainPrefix: DOMAIN.split('.')[0] ?? '',
      http: {
        method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'Alertmanager/0.25.0',
      },
      requestId: `req-${now}`,
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
  };
}

/** Reads a Function URL answer and its JSON body. */
export function readFunctionUrlResult(payload: unknown): FunctionUrlResult & { json: unknown } {
  const result = payload as FunctionUrlResult;
  if (typeof result?.statusCode !== 'number') {
    throw new Error(`not a Function URL result: ${JSON.stringify(payload)}`);
  }
  const text = result.isBase64Encoded ? Buffer.from(result.body, 'base64').toString('utf8') : result.body;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { ...result, json };
}
