/** `config check|schema`: the configuration, validated, and its JSON Schema for editors. */
import type { Command } from 'commander';
import type { CommandContext } from '../context.js';

export function registerConfigCommands(program: Command, ctx: CommandContext): void {
  const { io } = ctx;
  const configCommand = program.command('config').description('configuration');
  configCommand
    .command('check')
    .description('validate the configuration from every source, list every problem, and exit')
    .action(async () => {
      const config = await ctx.config();
      const { redactConfig } = await import('../../config/config.js');
      io.out(JSON.stringify(redactConfig(config), null, 2));
      io.out('configuration is valid');
    });
}
