// The ChatKit endpoint, as any client calls it: POST JSON, answers are
// JSON or Server-Sent Events (`data: <json>` frames).

/** A request refused before any stream started (`{"error":{code,message}}`). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `request failed (HTTP ${status})`);
    this.status = status;
    this.code = code || 'http_error';
  }
}

export class ChatKitClient {
  /**
   * @param {object} config  `{endpoint, userHeader}` from the server.
   * @param {() => {userId: string, token: string}} credentials  the
   *   settings panel's values, read on every request.
   */
  constructor(config, credentials) {
    this.config = config;
    this.credentials = credentials;
  }

  headers(extra = {}) {
    const { userId, token } = this.credentials();
    const headers = { ...extra };
    if (userId) headers[this.config.userHeader] = userId;
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  async post(body, signal) {
    const response = await fetch(this.config.endpoint, {
      method: 'POST',
      headers: this.headers({ 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }),
      body: JSON.stringify(body),
      signal,
    });
    if (!response.ok) throw await toApiError(response);
    return response;
  }

  /** A JSON request: resolves to the parsed answer. */
  async request(type, params) {
    const response = await this.post({ type, params });
    const text = await response.text();
    return text ? JSON.parse(text) : {};
  }

  /**
   * A streaming request: calls `onEvent` for every event as it arrives and
   * resolves when the stream ends. Aborting `signal` ends it early (the
   * server then cancels the turn) and rejects with an `AbortError`.
   */
  async stream(type, params, { signal, onEvent }) {
    const response = await this.post({ type, params }, signal);
    const contentType = response.headers.get('content-type') || '';
    if (!contentType.startsWith('text/event-stream')) {
      // A JSON answer where a stream was expected; nothing to show.
      await response.text();
      return;
    }
    await readEvents(response.body, onEvent);
  }

  /** Sends a file's bytes where `attachments.create` said to. */
  async upload(descriptor, file) {
    const method = (descriptor.method || 'POST').toUpperCase();
    let body = file;
    const headers = this.headers(descriptor.headers || {});
    if (method === 'POST') {
      body = new FormData();
      body.append('file', file, file.name);
    } else {
      headers['Content-Type'] = file.type || 'application/octet-stream';
    }
    const response = await fetch(descriptor.url, { method, headers, body });
    if (!response.ok) throw await toApiError(response);
    return response.json();
  }
}

async function toApiError(response) {
  let code;
  let message;
  try {
    const body = await response.json();
    code = body?.error?.code;
    message = body?.error?.message;
  } catch {
    // not JSON: keep the status
  }
  return new ApiError(response.status, code, message || `${response.status} ${response.statusText}`);
}

/**
 * Reads an SSE body: frames end with a blank line, `data:` lines are
 * joined, comments (keep-alives) are skipped. Split UTF-8 sequences and
 * CRLF line ends are handled.
 */
export async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
        .join('\n');
      if (!data) continue;
      let event;
      try {
        event = JSON.parse(data);
      } catch {
        console.warn('chatkit: a frame that is not JSON was skipped', data);
        continue;
      }
      onEvent(event);
    }
  }
}
