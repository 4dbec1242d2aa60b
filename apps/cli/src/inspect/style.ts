/** How the readable view marks its parts: plain text, or ANSI colours on a terminal. */
export interface Style {
  heading(text: string): string;
  path(text: string): string;
  name(text: string): string;
}

export const PLAIN: Style = {
  heading: (t) => t,
  path: (t) => t,
  name: (t) => t,
};

export const ANSI: Style = {
  heading: (t) => `\x1b[1m${t}\x1b[22m`,
  path: (t) => `\x1b[36m${t}\x1b[39m`,
  name: (t) => `\x1b[2m${t}\x1b[22m`,
};

/** Colour only on a terminal, and never when NO_COLOR is set to anything but the empty string. */
export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Style {
  return stream.isTTY === true && !env.NO_COLOR ? ANSI : PLAIN;
}
