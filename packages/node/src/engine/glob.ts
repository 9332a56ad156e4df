/** Redis's stringmatch glob: * ? [abc] [^a] [a-z] and \ escapes, case-sensitive unless nocase. */
export function globToRegExp(pattern: string, nocase = false): RegExp {
  let re = '^';
  for (let k = 0; k < pattern.length; k++) {
    const c = pattern[k]!;
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      let j = k + 1;
      let cls = '';
      if (pattern[j] === '^') {
        cls += '^';
        j++;
      }
      for (; j < pattern.length && pattern[j] !== ']'; j++) {
        const ch = pattern[j]!;
        if (ch === '\\' && j + 1 < pattern.length) {
          cls += '\\' + pattern[++j];
        } else if (ch === '-' && cls.length > 0 && j + 1 < pattern.length && pattern[j + 1] !== ']') {
          cls += '-';
        } else cls += ch.replace(/[\]\\^-]/g, '\\$&');
      }
      // No closing bracket: Redis's stringmatch takes the rest of the pattern as the class.
      re += cls === '' ? '(?!)' : cls === '^' ? '[\\s\\S]' : `[${cls}]`;
      k = j;
    } else if (c === '\\' && k + 1 < pattern.length) {
      re += pattern[++k]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(re + '$', nocase ? 'i' : '');
}
