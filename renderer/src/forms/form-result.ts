/** A form turned into API input, or the messages that stop it from being sent. */
export type FormResult<T> = { ok: true; input: T } | { ok: false; errors: Record<string, string> };

export function formResult<T>(errors: Record<string, string>, build: () => T): FormResult<T> {
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, input: build() };
}

/** A TCP port typed in a text field, or null when it is not one. */
export function parsePort(text: string): number | null {
  const trimmed = text.trim();
  if (!/^\d{1,5}$/.test(trimmed)) return null;
  const port = Number(trimmed);
  return port >= 1 && port <= 65535 ? port : null;
}

/** A whole number typed in a text field within [min, max], or null. */
export function parseWhole(text: string, min: number, max: number): number | null {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return null;
  const value = Number(trimmed);
  return value >= min && value <= max ? value : null;
}

/** `Production EU` → `production-eu`: the id pattern the API accepts for clusters, repositories and zones. */
export function slugify(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
}
