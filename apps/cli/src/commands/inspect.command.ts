import type { Command } from 'commander';

export function registerInspect(program: Command): void {
  program.command('inspect').description('(being built)');
}
