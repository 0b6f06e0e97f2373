import { Kind, parse, print, type SelectionSetNode } from 'graphql';

/**
 * Depth of an operation document as depth-limiting servers count it: the
 * root field is level 1, each nested selection set one more. Inline
 * fragments add no level. Named fragments are not followed (the documents
 * this client builds have none).
 */
export function documentDepth(document: string): number {
  const ast = parse(document);
  let deepest = 0;
  for (const def of ast.definitions) {
    if (def.kind === Kind.OPERATION_DEFINITION) deepest = Math.max(deepest, setDepth(def.selectionSet));
  }
  return deepest;
}

function setDepth(set: SelectionSetNode): number {
  let deepest = 0;
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) deepest = Math.max(deepest, 1 + (sel.selectionSet ? setDepth(sel.selectionSet) : 0));
    else if (sel.kind === Kind.INLINE_FRAGMENT) deepest = Math.max(deepest, setDepth(sel.selectionSet));
  }
  return deepest;
}

/**
 * The same document with every field below `maxDepth` left out, and every
 * object field whose selection became empty left out with it; null when
 * nothing selectable would remain under the root field.
 */
export function pruneDocument(document: string, maxDepth: number): string | null {
  if (maxDepth < 2) return null;
  const ast = parse(document);
  let empty = false;
  const definitions = ast.definitions.map((def) => {
    if (def.kind !== Kind.OPERATION_DEFINITION) return def;
    const set = pruneSet(def.selectionSet, 1, maxDepth);
    if (!set) {
      empty = true;
      return def;
    }
    return { ...def, selectionSet: set };
  });
  if (empty) return null;
  return print({ ...ast, definitions });
}

function pruneSet(set: SelectionSetNode, level: number, maxDepth: number): SelectionSetNode | null {
  const selections: SelectionSetNode['selections'][number][] = [];
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) {
      if (!sel.selectionSet) {
        selections.push(sel);
        continue;
      }
      if (level >= maxDepth) continue;
      const sub = pruneSet(sel.selectionSet, level + 1, maxDepth);
      if (sub) selections.push({ ...sel, selectionSet: sub });
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      const sub = pruneSet(sel.selectionSet, level, maxDepth);
      if (sub) selections.push({ ...sel, selectionSet: sub });
    } else {
      selections.push(sel);
    }
  }
  // __typename alone selects nothing Tote sent.
  if (!selections.some((s) => s.kind !== Kind.FIELD || s.name.value !== '__typename')) return null;
  return { ...set, selections };
}
