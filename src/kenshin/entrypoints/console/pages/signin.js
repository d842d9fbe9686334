// Sign-in: name, password and (for admins and operators) a 6-digit code; the first
// sign-in of an account without an authenticator shows its QR code and asks for the
// first code (enrolment).
import { api, setCsrf } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";

function field(label, attrs) {
  return h("label", {}, h("span", {}, label), h("input", { required: true, ...attrs }));
}

function errorLine() {
  return h("p", { class: "error", role: "alert", testid: "signin-error", hidden: true });
}

function showError(line, error) {
  line.textContent = error.status === 401 ? t("signin.refused") : error.message;
  line.hidden = false;
}

/** The QR code's SVG as an image URL; an <img> needs the SVG namespace declared. */
function svgImage(svg) {
  const text = /<svg[^>]*\sxmlns=/.test(svg) ? svg : svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"');
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`;
}

/** The secret of an otpauth:// URI, for typing into an authenticator by hand. */
function secretOf(uri) {
  try {
    return new URL(uri).searchParams.get("secret") || "";
  } catch {
    return "";
  }
}

function enrolment(main, answer, done) {
  const code = field(t("signin.code"), {
    name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}",
    maxlength: 6, testid: "enrol-code",
  });
  const error = errorLine();
  const qr = answer.qr_svg
    ? h("img", { class: "qr", alt: t("enrol.qr"), testid: "enrol-qr",
      src: svgImage(answer.qr_svg) })
    : null;
  const form = h("form", { class: "card signin", testid: "enrol-form" },
    h("h1", {}, t("enrol.title")),
    h("p", { class: "hint" }, t("enrol.hint")),
    qr,
    answer.otpauth ? h("p", { class: "secret" }, t("enrol.secret"), " ", h("code", { testid: "enrol-secret" }, secretOf(answer.otpauth))) : null,
    code, error,
    h("button", { type: "submit", testid: "enrol-submit" }, t("enrol.confirm")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      // The enrolling session's CSRF token: in the answer, or asked for.
      if (!answer.csrf) setCsrf((await api.get("/api/v1/session")).csrf);
      else setCsrf(answer.csrf);
      const session = await api.post("/api/v1/session/totp", { code: form.elements.code.value.trim() });
      if (session && session.csrf) setCsrf(session.csrf);
      await done();
    } catch (e) {
      showError(error, e);
    }
  });
  main.replaceChildren(form);
  form.elements.code.focus();
}

export function render(main, { session, done }) {
  if (session && session.enrolling) {
    // Reloaded while enrolling: the QR code is shown once; start again from the password.
    api.del("/api/v1/session").catch(() => {});
  }
  const error = errorLine();
  const form = h("form", { class: "card signin", testid: "signin-form" },
    h("h1", {}, t("signin.title")),
    field(t("signin.name"), { name: "name", autocomplete: "username", testid: "signin-name" }),
    field(t("signin.password"), { name: "password", type: "password", autocomplete: "current-password", testid: "signin-password" }),
    h("label", {}, h("span", {}, t("signin.code"), h("small", {}, t("signin.code_hint"))),
      h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: 6, testid: "signin-code" })),
    error,
    h("button", { type: "submit", testid: "signin-submit" }, t("signin.submit")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: form.elements.name.value.trim(), password: form.elements.password.value };
    const code = form.elements.code.value.trim();
    if (code) body.code = code;
    try {
      const answer = await api.post("/api/v1/session", body);
      if (answer && answer.enrolling) return enrolment(main, answer, done);
      if (answer && answer.csrf) setCsrf(answer.csrf);
      await done();
    } catch (e) {
      showError(error, e);
      form.elements.password.value = "";
      form.elements.code.value = "";
    }
  });
  main.replaceChildren(form);
  form.elements.name.focus();
}
