/** What a refinement's context offers for reporting: zod's ctx, and anything shaped like it. */
interface IssueSink {
  addIssue(issue: { code: "custom"; path: PropertyKey[]; message: string }): void;
}

/**
 * In a refinement: an issue at `first` unless exactly one of the two keys is set (a value
 * inline or a reference to it, one auth mode or the other).
 */
export function exactlyOne<T extends object>(
  entry: T,
  ctx: IssueSink,
  first: keyof T & string,
  second: keyof T & string,
  message = `expected exactly one of ${first} or ${second}`,
): void {
  if ((entry[first] === undefined) === (entry[second] === undefined)) {
    ctx.addIssue({ code: "custom", path: [first], message });
  }
}
