/**
 * libpq's sslmode values that Tidemark supports (allow is left out: it only weakens prefer).
 * Kept apart from tls-options.ts so settings and API schemas (also loaded by the renderer)
 * need no Node module.
 */
export const sslModes = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof sslModes)[number];
