// Every string the UI shows, in one catalogue per language. A new language
// is a new catalogue with the same keys; t() falls back to English.

const en = {
  "app.name": "HealthHub",
  "app.skip": "Skip to content",
  "login.title": "Sign in",
  "login.email": "E-mail address",
  "login.password": "Password",
  "login.totp": "Code from your authenticator app",
  "login.totpHelp": "Two-factor authentication is on for this account.",
  "login.submit": "Sign in",
  "login.verify": "Verify",
  "login.back": "Use another account",
  "login.busy": "Signing in…",
  "login.emailRequired": "Enter your e-mail address.",
  "login.emailInvalid": "Enter an e-mail address such as name@example.org.",
  "login.passwordRequired": "Enter your password.",
  "login.totpInvalid": "Enter the 6-digit code.",
  "setup.title": "Create the first administrator",
  "setup.intro": "This HealthHub has no accounts yet. The administrator you create here adds everyone else.",
  "setup.name": "Your name",
  "setup.password": "Password (at least 10 characters)",
  "setup.confirm": "Password again",
  "setup.submit": "Create administrator",
  "setup.busy": "Creating…",
  "setup.nameRequired": "Enter your name.",
  "setup.passwordShort": "Use at least 10 characters; a few unrelated words work well.",
  "setup.mismatch": "The two passwords differ.",
  "setup.noToken": "Open the setup link the server printed when it started; it holds a one-time token.",
  "setup.done": "An administrator exists already. Sign in instead.",
  "assistant.nav": "Assistant",
  "assistant.conversations": "Conversations",
  "assistant.search": "Search conversations",
  "assistant.new": "New chat",
  "assistant.empty": "No conversations yet.",
  "assistant.noMatch": "No conversation matches.",
  "assistant.untitled": "New conversation",
  "assistant.start": "Ask about the clinic: opening hours, appointments, prescriptions, vaccinations and more.",
  "assistant.placeholder": "Write your message",
  "assistant.messageLabel": "Message",
  "assistant.send": "Send",
  "assistant.stop": "Stop",
  "assistant.regenerate": "Ask again",
  "assistant.copy": "Copy",
  "assistant.copied": "Copied",
  "assistant.export": "Export",
  "assistant.exportMarkdown": "Markdown",
  "assistant.exportJSON": "JSON",
  "assistant.you": "You",
  "assistant.answer": "Assistant",
  "assistant.sources": "Sources",
  "assistant.source": "Source {n}",
  "assistant.close": "Close",
  "assistant.stopped": "Stopped: the answer was cut short.",
  "assistant.failed": "The answer could not be finished.",
  "assistant.writing": "Writing…",
  "assistant.emergency": "Emergency",
  "shell.nav": "Main",
  "shell.home": "Home",
  "shell.signOut": "Sign out",
  "shell.theme": "Theme",
  "shell.themeLight": "Light",
  "shell.themeDark": "Dark",
  "shell.themeSystem": "System",
  "shell.signedInAs": "Signed in as {name} ({role})",
  "shell.server": "Server: {server}",
  "shell.reconnecting": "The connection to the server was lost. Reconnecting…",
  "shell.offline": "You are offline. Changes will not be saved until the connection is back.",
  "idle.title": "Still there?",
  "idle.body": "For the privacy of patient data you will be signed out in {seconds} seconds.",
  "idle.stay": "Stay signed in",
  "idle.signedOut": "You were signed out after a period without activity.",
  "home.title": "Welcome, {name}",
  "home.intro": "You are signed in to HealthHub.",
  "role.patient": "patient",
  "role.doctor": "doctor",
  "role.staff": "staff",
  "role.admin": "administrator",
  "error.network": "The server cannot be reached. Check the connection and try again.",
  "error.generic": "Something went wrong. Please try again.",
  "error.retry": "Try again",
};

export type MessageKey = keyof typeof en;

const catalogues: Record<string, Partial<Record<MessageKey, string>>> = { en };

let language = "en";

/** setLanguage picks the catalogue t() reads; unknown languages keep English. */
export function setLanguage(lang: string) {
  language = lang in catalogues ? lang : "en";
}

/** t returns the message for key with {name} placeholders filled in. */
export function t(key: MessageKey, vars: Record<string, string | number> = {}): string {
  const text = catalogues[language]?.[key] ?? en[key];
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}
