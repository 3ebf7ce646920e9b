import { ApiError, errorMessage } from '../api/api-error.js';

/** Messages to show next to form fields (by the form's own field names), and above the form. */
export interface FormErrors {
  fields: Record<string, string>;
  /** what belongs to no field: the API's refusal, or input problems no field shows */
  general: string | null;
}

export const noErrors: FormErrors = { fields: {}, general: null };

// "coordinator.host: ...", "config.zones.0.path: ...", "(input): ..."
const issueStart = /(?:^|; )((?:\(input\)|[A-Za-z_]\w*)(?:\.[A-Za-z_0-9]\w*)*): /g;

/**
 * The issues of an `invalid_input` message, by path: the dispatcher writes
 * `Invalid input for <method>: <path>: <message>; <path>: <message>`, and engine checks of
 * settings write `... are invalid: <path>: <message>`. Null when the message has no such list.
 */
export function parseInvalidInput(message: string): Record<string, string> | null {
  const lead = /^(?:Invalid input for [\w.]+|[^:]* (?:is|are) invalid): /.exec(message);
  if (!lead) return null;
  const body = message.slice(lead[0].length);
  const starts = [...body.matchAll(issueStart)];
  if (starts.length === 0 || starts[0]!.index !== 0) return null;
  const issues: Record<string, string> = {};
  starts.forEach((match, i) => {
    const begin = match.index + match[0].length;
    const end = i + 1 < starts.length ? starts[i + 1]!.index : body.length;
    const path = match[1]!;
    const text = body.slice(begin, end).trim();
    issues[path] = issues[path] ? `${issues[path]}; ${text}` : text;
  });
  return issues;
}

/**
 * Turns a failed call into form errors: `invalid_input` issues go next to the fields
 * `fieldOf` names; anything else (or an issue of no field) is shown above the form.
 */
export function formErrorsFrom(
  err: unknown,
  fieldOf: (apiPath: string) => string | null,
): FormErrors {
  const message = errorMessage(err);
  if (!(err instanceof ApiError) || err.code !== 'invalid_input')
    return { fields: {}, general: message };
  const issues = parseInvalidInput(message);
  if (!issues) return { fields: {}, general: message };
  const fields: Record<string, string> = {};
  const unplaced: string[] = [];
  for (const [path, text] of Object.entries(issues)) {
    const field = fieldOf(path);
    if (field) fields[field] = fields[field] ? `${fields[field]}; ${text}` : text;
    else unplaced.push(`${path}: ${text}`);
  }
  return {
    fields,
    general: unplaced.length > 0 ? `Some values were refused: ${unplaced.join('; ')}` : null,
  };
}
