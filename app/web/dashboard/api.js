// REST calls with the admin token (CONTRACT.md sections 2 and 3).

import { ERROR } from "../sdk/protocol.js";

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export class Api {
  /** onRefused(status): the server refused the token (401 or 403). */
  constructor(token, onRefused) {
    this.token = token;
    this.onRefused = onRefused;
  }

  async fetch(path, init = {}) {
    const response = await fetch(path, {
      ...init,
      headers: { Authorization: `Bearer ${this.token}`, ...(init.headers ?? {}) },
      cache: "no-store",
    });
    if (response.ok) return response;
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not the JSON error shape (a proxy's page, say): report the status alone
    }
    const error = body?.error ?? {};
    if (response.status === 401) this.onRefused(401);
    throw new ApiError(
      response.status,
      error.code ?? ERROR.HTTP_ERROR,
      error.message ?? `the server answered ${response.status} ${response.statusText}`,
      error.field,
    );
  }

  async json(path) {
    return (await this.fetch(path)).json();
  }

  async text(path) {
    return (await this.fetch(path)).text();
  }

  async blob(path) {
    return (await this.fetch(path)).blob();
  }

  async post(path, body) {
    const response = await this.fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    return response.json();
  }
}

export function sessionPath(sessionId, rest = "") {
  return `/candidate-sessions/${encodeURIComponent(sessionId)}${rest}`;
}
