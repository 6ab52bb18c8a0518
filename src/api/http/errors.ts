// HTTP errors in Ganeti's body format {"code","message","explain"}; the message is
// HTML-escaped like Python 3's html.escape, which clients show as they get it.

/** Python 3 BaseHTTPRequestHandler.responses: [reason phrase, long explanation]. */
const STATUS_TEXT: Record<number, [string, string]> = {
  200: ["OK", "Request fulfilled, document follows"],
  304: ["Not Modified", "Document has not changed since given time"],
  400: ["Bad Request", "Bad request syntax or unsupported method"],
  401: ["Unauthorized", "No permission -- see authorization schemes"],
  403: ["Forbidden", "Request forbidden -- authorization will not help"],
  404: ["Not Found", "Nothing matches the given URI"],
  406: ["Not Acceptable", "URI not available in preferred format"],
  408: ["Request Timeout", "Request timed out; try again later."],
  412: ["Precondition Failed", "Precondition in headers is false"],
  413: ["Request Entity Too Large", "Entity is too large."],
  415: ["Unsupported Media Type", "Entity body in unsupported format"],
  429: ["Too Many Requests", 'The user has sent too many requests in a given amount of time ("rate limiting")'],
  500: ["Internal Server Error", "Server got itself in trouble"],
  501: ["Not Implemented", "Server does not support this operation"],
  502: ["Bad Gateway", "Invalid responses from another server/proxy"],
  503: ["Service Unavailable", "The server cannot process the request due to a high load"],
  504: ["Gateway Timeout", "The gateway server did not receive a timely response"],
};

export function reasonPhrase(code: number): string {
  return STATUS_TEXT[code]?.[0] ?? "Unknown";
}

export class HttpError extends Error {
  readonly code: number;
  readonly headers: Record<string, string>;
  constructor(code: number, message?: string, headers: Record<string, string> = {}) {
    // An answer, not a fault: no stack trace to capture (a flood of refused requests spent
    // ~4% of the master's time building them).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message ?? reasonPhrase(code));
    Error.stackTraceLimit = limit;
    this.code = code;
    this.headers = headers;
  }
}

export const badRequest = (message: string) => new HttpError(400, message);
export const notFound = () => new HttpError(404);

export function htmlEscape(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#x27;");
}

export function errorBody(err: HttpError): { code: number; message: string; explain: string } {
  return { code: err.code, message: htmlEscape(err.message), explain: STATUS_TEXT[err.code]?.[1] ?? "" };
}
