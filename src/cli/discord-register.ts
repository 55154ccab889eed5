/**
 * `npm run discord:register`: uploads the bot's commands with one bulk overwrite. With DISCORD_GUILD_ID
 * they go to that guild (instant, for testing); without, they are global (production). Run it after a
 * change of the commands, never at every start: Discord allows 200 command creates a day per guild.
 *
 * Environment: DISCORD_TOKEN, DISCORD_APPLICATION_ID, optional DISCORD_GUILD_ID and DISCORD_API_URL.
 */
import { resolve } from 'node:path';
import { REST, Routes } from 'discord.js';
import { commandDefinitions } from '../bots/discord/commands.js';
import { readEnvFile } from '../config/env-file.js';

export async function registerCommands(env: Readonly<Record<string, string | undefined>>): Promise<string> {
  const token = env['DISCORD_TOKEN'];
  const applicationId = env['DISCORD_APPLICATION_ID'];
  const missing = [
    ...(token === undefined || token === '' ? ['DISCORD_TOKEN'] : []),
    ...(applicationId === undefined || applicationId === '' ? ['DISCORD_APPLICATION_ID'] : []),
  ];
  if (token === undefined || applicationId === undefined || missing.length > 0) {
    throw new Error(`set ${missing.join(' and ')} (in .env or the environment)`);
  }
  const guildId = env['DISCORD_GUILD_ID'];
  const apiUrl = env['DISCORD_API_URL'];
  const rest = new REST({
    version: '10',
    ...(apiUrl === undefined || apiUrl === '' ? {} : { api: apiUrl }),
  }).setToken(token);
  const body = commandDefinitions();
  const route =
    guildId === undefined || guildId === ''
      ? Routes.applicationCommands(applicationId)
      : Routes.applicationGuildCommands(applicationId, guildId);
  const saved = (await rest.put(route, { body })) as unknown[];
  return guildId === undefined || guildId === ''
    ? `Registered ${saved.length} global commands (clients may take a while to show changes).`
    : `Registered ${saved.length} commands in guild ${guildId}.`;
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${resolve(process.argv[1])}`).href) {
  const env = { ...readEnvFile(resolve(process.cwd(), '.env')), ...process.env };
  registerCommands(env).then(
    (msg) => {
      process.stdout.write(`${msg}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`discord:register failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
