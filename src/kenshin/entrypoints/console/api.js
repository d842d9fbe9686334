// The admin API: JSON over fetch with the session cookie; every changing request
// carries the session's CSRF token in X-CSRF-Token.
import { t } from "./i18n.js";

let csrf = "";

export function setCsrf(token) {
  csrf = token || "";
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || t("error.status", status));
    this.status = status;
  }
}

let onUnauthorised = () => {};

/** What to do when the API answers 401 (the session ended): the console signs in again. */
export function whenUnauthorised(handler) {
  onUnauthorised = handler;
}

async function send(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, t("error.network"));
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : null;
    const error = new ApiError(response.status, detail);
    if (response.status === 401 && !path.startsWith("/api/v1/session")) onUnauthorised();
    throw error;
  }
  return { data, response };
}

async function request(method, path, body) {
  return (await send(method, path, body)).data;
}

export const api = {
  get: (path) => request("GET", path),
  post: (path, body = {}) => request("POST", path, body),
  del: (path) => request("DELETE", path),
  /** A list and whether it was cut at its limit (X-Truncated: older ones left out). */
  list: async (path) => {
    const { data, response } = await send("GET", path);
    return { rows: data, truncated: response.headers.get("X-Truncated") === "true" };
  },
};

/** The path with each part of parts URL-encoded: path`/api/v1/meters/${id}`. */
export function path(strings, ...parts) {
  return strings.reduce((out, s, i) => out + s + (i < parts.length ? encodeURIComponent(parts[i]) : ""), "");
}
