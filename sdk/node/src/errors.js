// Errors, with the same kinds and field names as the Python engine (and the gRPC status codes they map to).

function show(value) {
  let text;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

/** Base class of every error the SDK raises on purpose; `code` is "invalid_argument", "not_found" or
 * "failed_precondition". */
export class RayabError extends Error {
  constructor(code, message) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A request field breaks a rule: `field == value: rule` (the value shown with a bounded prefix). */
export class ValidationError extends RayabError {
  constructor(field, value, rule) {
    super("invalid_argument", `${field} == ${show(value)}: ${rule}`);
    this.field = field;
    this.rule = rule;
  }
}

/** The snapshot document breaks a rule; names the field path inside the document. */
export class SnapshotError extends ValidationError {}

/** An experiment that is not in the snapshot. */
export class NotFoundError extends RayabError {
  constructor(message) {
    super("not_found", message);
    this.field = null;
  }
}

/** An experiment that exists but serves nothing (draft, archived, stopped without a shipped variant). */
export class PreconditionError extends RayabError {
  constructor(message) {
    super("failed_precondition", message);
    this.field = null;
  }
}
