/* A thin client for the platform's REST API, shared by the pages.
 *
 * The pages use the same endpoints outside clients use, signed in by the session cookie; Django's
 * CSRF check applies to session-authenticated writes, so every write sends the token from the page.
 */
(function () {
  "use strict";

  class ApiError extends Error {
    constructor(status, code, message, fields) {
      super(message);
      this.status = status;
      this.code = code;
      this.fields = fields || null;
    }
    /* No response at all (offline, DNS, connection reset) or a server fault: worth retrying. */
    get retryable() {
      return this.status === 0 || this.status >= 500 || this.status === 429;
    }
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function request(method, url, { body, headers } = {}) {
    const init = {
      method,
      credentials: "same-origin",
      headers: Object.assign({ Accept: "application/json" }, headers || {}),
    };
    if (method !== "GET") {
      init.headers["X-CSRFToken"] = csrfToken();
    }
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (networkError) {
      throw new ApiError(0, "network", "The server could not be reached. Check your connection.");
    }
    const serverDate = response.headers.get("Date");
    if (response.status === 204) {
      return { status: 204, data: null, serverDate };
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (parseError) {
        data = null;
      }
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      const message = error.message || `The server answered ${response.status} ${response.statusText}.`;
      throw new ApiError(response.status, error.code || "http_" + response.status, message, error.fields);
    }
    return { status: response.status, data, serverDate };
  }

  /* A random key that survives retries of one submit; crypto.randomUUID needs a secure context,
   * getRandomValues works everywhere. */
  function newIdempotencyKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  window.ShopApi = {
    ApiError,
    newIdempotencyKey,
    get: (url) => request("GET", url),
    post: (url, body, headers) => request("POST", url, { body, headers }),
  };
})();
