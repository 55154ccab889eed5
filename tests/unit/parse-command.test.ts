import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntentSchema, MAX_PROMPT_CHARS, MAX_SEED } from '../../src/core/intents.js';
import type { Intent, LimitsIntent, PhotoRef, UserError } from '../../src/core/intents.js';
import { render } from '../../src/core/messages.js';
import { parseCommand } from '../../src/core/parse-command.js';
import type { ParseCommandOptions } from '../../src/core/parse-command.js';

function ok(text: string, opts?: ParseCommandOptions): Intent {
  const r = parseCommand(text, opts);
  if (!r.ok)
    throw new Error(
      `expected an intent for ${JSON.stringify(text)}, got ${r.error.code}: ${render('en', r.error)}`,
    );
  return r.intent;
}

/** The error, with the English text a user would read. */
function err(text: string, opts?: ParseCommandOptions): UserError & { message: string } {
  const r = parseCommand(text, opts);
  if (r.ok) throw new Error(`expected an error for ${JSON.stringify(text)}, got ${JSON.stringify(r.intent)}`);
  return { ...r.error, message: render('en', r.error) };
}

function imagine(text: string): Extract<Intent, { kind: 'imagine' }> {
  const intent = ok(text);
  if (intent.kind !== 'imagine') throw new Error(`expected imagine, got ${intent.kind}`);
  return intent;
}

function limits(text: string): LimitsIntent {
  const intent = ok(text);
  if (intent.kind !== 'limits') throw new Error(`expected limits, got ${intent.kind}`);
  return intent.limits;
}

describe('parseCommand: /imagine flags', () => {
  it('reads every flag of the Midjourney-like form', () => {
    expect(
      ok('/imagine a fox in snow --ar 16:9 --seed 42 --no people --style flux --steps 30 --count 4 --png'),
    ).toEqual({
      kind: 'imagine',
      prompt: 'a fox in snow',
      options: {
        aspect: '16:9',
        seed: 42,
        negative: 'people',
        style: 'flux',
        steps: 30,
        count: 4,
        png: true,
      },
    });
  });

  it('gives an intent with empty options when there are no flags', () => {
    expect(ok('/imagine a red fox')).toEqual({ kind: 'imagine', prompt: 'a red fox', options: {} });
  });

  it('keeps the prompt text unchanged: case, inner spacing, punctuation and line breaks', () => {
    const prompt = 'A  Fox,   in SNOW —  "quoted"\nsecond line';
    expect(imagine(`/imagine   ${prompt}   --seed 1`).prompt).toBe(prompt);
  });

  it('joins the text on both sides of a flag in the middle with one space', () => {
    expect(imagine('/imagine a fox --ar 1:1 in snow').prompt).toBe('a fox in snow');
    expect(imagine('/imagine --ar 1:1 a fox').prompt).toBe('a fox');
  });

  it('reads --no as free text up to the next flag', () => {
    const i = imagine('/imagine a fox --no people, cars,  text --seed 3');
    expect(i.options.negative).toBe('people, cars,  text');
    expect(i.options.seed).toBe(3);
    expect(imagine('/imagine a fox --no people, cars').options.negative).toBe('people, cars');
  });

  it('takes a quoted --no value as one group and leaves the rest for the prompt', () => {
    const i = imagine('/imagine --no "blurry, text" a fox in snow');
    expect(i.options.negative).toBe('blurry, text');
    expect(i.prompt).toBe('a fox in snow');
  });

  it('accepts an empty quoted --no to drop the style negative', () => {
    expect(imagine('/imagine a fox --no ""').options.negative).toBe('');
  });

  it('accepts every allowed aspect ratio and the 16x9 spelling', () => {
    for (const ar of ['1:1', '4:3', '3:4', '3:2', '2:3', '16:9', '9:16', '21:9', '9:21']) {
      expect(imagine(`/imagine x --ar ${ar}`).options.aspect).toBe(ar);
    }
    expect(imagine('/imagine x --ar 16x9').options.aspect).toBe('16:9');
    expect(imagine('/imagine x --aspect 2:3').options.aspect).toBe('2:3');
  });

  it('refuses an aspect ratio outside the list and names the allowed ones', () => {
    const e = err('/imagine x --ar 5:4');
    expect(e.code).toBe('bad_flag_value');
    expect(e.flag).toBe('--ar');
    expect(e.message).toContain('16:9');
    expect(e.message).toContain('9:21');
  });

  it('accepts seeds from 0 to 2^53-1 and refuses the rest', () => {
    expect(imagine('/imagine x --seed 0').options.seed).toBe(0);
    expect(imagine(`/imagine x --seed ${MAX_SEED}`).options.seed).toBe(MAX_SEED);
    for (const bad of [`${MAX_SEED + 1}`, '-1', '1.5', 'abc', '99999999999999999999']) {
      const e = err(`/imagine x --seed ${bad}`);
      expect(e.code, bad).toBe('bad_flag_value');
      expect(e.flag).toBe('--seed');
    }
  });

  it('accepts steps 1 to 150 only', () => {
    expect(imagine('/imagine x --steps 1').options.steps).toBe(1);
    expect(imagine('/imagine x --steps 150').options.steps).toBe(150);
    expect(err('/imagine x --steps 0').code).toBe('bad_flag_value');
    expect(err('/imagine x --steps 151').message).toContain('150');
  });

  it('accepts count 1 to 4 only', () => {
    expect(imagine('/imagine x --count 1').options.count).toBe(1);
    expect(imagine('/imagine x --count 4').options.count).toBe(4);
    expect(err('/imagine x --count 0').flag).toBe('--count');
    expect(err('/imagine x --count 5').message).toContain('1 to 4');
  });

  it('folds the style name to lower case and refuses names that cannot be styles', () => {
    expect(imagine('/imagine x --style Flux').options.style).toBe('flux');
    expect(err('/imagine x --style "two words"').code).toBe('bad_flag_value');
  });

  it('reads --png as a switch that takes no value', () => {
    const i = imagine('/imagine --png a fox');
    expect(i.options.png).toBe(true);
    expect(i.prompt).toBe('a fox');
    expect(err('/imagine a fox --png=yes').code).toBe('bad_flag_value');
  });

  it('accepts --flag=value as well as --flag value', () => {
    expect(imagine('/imagine x --ar=16:9 --seed=7').options).toEqual({ aspect: '16:9', seed: 7 });
  });

  it('reads flag names case-insensitively', () => {
    expect(imagine('/imagine x --AR 16:9 --Seed 7').options).toEqual({ aspect: '16:9', seed: 7 });
  });

  it('says which flag needs a value when it has none', () => {
    for (const text of ['/imagine x --seed', '/imagine x --ar --seed 3', '/imagine x --no']) {
      const e = err(text);
      expect(e.code, text).toBe('bad_flag_value');
      expect(e.message).toContain('needs a value');
    }
  });

  it('refuses a repeated flag, aliases included, instead of silently keeping one', () => {
    const e = err('/imagine x --seed 1 --seed 2');
    expect(e.code).toBe('bad_flag_value');
    expect(e.flag).toBe('--seed');
    expect(e.message).toContain('twice');
    expect(err('/imagine x --ar 1:1 --aspect 16:9').flag).toBe('--ar');
  });
});

describe('parseCommand: long dashes and quotes', () => {
  it('reads the em dash and en dash phones substitute for -- as a flag start', () => {
    expect(imagine('/imagine a fox —ar 16:9 –seed 42 —no people').options).toEqual({
      aspect: '16:9',
      seed: 42,
      negative: 'people',
    });
    expect(imagine('/imagine a fox —-png').options.png).toBe(true);
  });

  it('keeps a dash followed by a space, or inside a word, as prompt text', () => {
    expect(imagine('/imagine a fox — in snow').prompt).toBe('a fox — in snow');
    expect(imagine('/imagine a dog—cat hybrid x--ar').prompt).toBe('a dog—cat hybrid x--ar');
    expect(imagine('/imagine a fox -- in snow').prompt).toBe('a fox -- in snow');
  });

  it('groups flag values in straight, single and typographic quotes', () => {
    expect(imagine('/imagine x --no "people, cars"').options.negative).toBe('people, cars');
    expect(imagine("/imagine x --no 'people, cars'").options.negative).toBe('people, cars');
    expect(imagine('/imagine x --no “people, cars”').options.negative).toBe('people, cars');
    expect(imagine('/imagine x --no ‘people, cars’').options.negative).toBe('people, cars');
    expect(imagine('/imagine x --style “flux”').options.style).toBe('flux');
  });

  it('lets an apostrophe sit inside a single-quoted value', () => {
    expect(imagine("/imagine x --no 'people's faces' --seed 1").options.negative).toBe("people's faces");
  });

  it('refuses an unclosed quote in a flag value and says to close it', () => {
    const e = err('/imagine x --no "people, cars');
    expect(e.code).toBe('bad_flag_value');
    expect(e.message).toContain('close the quote');
  });

  it('does not read flags inside double quotes of the prompt', () => {
    const i = imagine('/imagine a sign that says "--ar is --wrong" --ar 1:1');
    expect(i.prompt).toBe('a sign that says "--ar is --wrong"');
    expect(i.options.aspect).toBe('1:1');
  });
});

describe('parseCommand: unknown flags and prompt limits', () => {
  it('names an unknown flag and lists the known ones', () => {
    const e = err('/imagine a fox --quality 2');
    expect(e.code).toBe('unknown_flag');
    expect(e.flag).toBe('--quality');
    for (const known of ['--ar', '--seed', '--no', '--style', '--steps', '--count', '--png']) {
      expect(e.message).toContain(known);
    }
  });

  it('keeps a long dash before a word that is no flag as prompt text (Spanish dialogue)', () => {
    expect(imagine('/imagine un niño diciendo —Hola, amigo --ar 1:1').prompt).toBe(
      'un niño diciendo —Hola, amigo',
    );
    const e = err('/imagine a fox --in snow');
    expect(e.code).toBe('unknown_flag');
    expect(e.message).toContain('space after');
  });

  it('refuses a message far longer than any valid command before scanning it', () => {
    expect(err(`/imagine ${'"'.repeat(50_000)}`).code).toBe('prompt_too_long');
  });

  it('reads --strength on /imagine as the image prompt strength, and asks for the picture when none came', () => {
    const photo: PhotoRef = { ref: 'file-1', declaredBytes: 2000, ownerId: '7' };
    expect(ok('/imagine a fox --strength 0.5', { photo })).toEqual({
      kind: 'imagine',
      prompt: 'a fox',
      options: {},
      strength: 0.5,
      photo,
    });
    expect(err('/imagine a fox --strength 0.5').key).toBe('refuse.strength_needs_picture');
  });

  it('refuses an empty prompt, also when only flags are given', () => {
    expect(err('/imagine').code).toBe('empty_prompt');
    expect(err('/imagine    ').code).toBe('empty_prompt');
    expect(err('/imagine --ar 16:9 --seed 4').code).toBe('empty_prompt');
  });

  it('accepts a prompt of exactly the limit and refuses one character more, naming the limit', () => {
    const atLimit = 'a'.repeat(MAX_PROMPT_CHARS);
    expect(imagine(`/imagine ${atLimit} --seed 1`).prompt).toBe(atLimit);
    const e = err(`/imagine ${atLimit}b`);
    expect(e.code).toBe('prompt_too_long');
    expect(e.message).toContain(String(MAX_PROMPT_CHARS));
  });

  it('refuses a --no text longer than the prompt limit', () => {
    const e = err(`/imagine x --no ${'n'.repeat(MAX_PROMPT_CHARS + 1)}`);
    expect(e.code).toBe('prompt_too_long');
    expect(e.flag).toBe('--no');
  });
});

describe('parseCommand: /portrait', () => {
  const photo: PhotoRef = { ref: 'file-123', declaredBytes: 1000, ownerId: '42' };

  it('takes the photo from the options and the strength from the flag', () => {
    expect(ok('/portrait smiling knight --strength 0.8 --style portrait', { photo })).toEqual({
      kind: 'portrait',
      prompt: 'smiling knight',
      options: { style: 'portrait' },
      strength: 0.8,
      photo,
    });
  });

  it('gives an intent without a photo when none came with the message', () => {
    const intent = ok('/portrait smiling knight');
    expect(intent).toEqual({ kind: 'portrait', prompt: 'smiling knight', options: {} });
  });

  it('accepts strength 0 to 1.5 with a dot or a decimal comma and refuses the rest', () => {
    expect(ok('/portrait x --strength 1.5')).toMatchObject({ strength: 1.5 });
    expect(ok('/portrait x --strength 0,7')).toMatchObject({ strength: 0.7 });
    expect(ok('/portrait x --strength .5')).toMatchObject({ strength: 0.5 });
    for (const bad of ['1.6', '-0.1', 'strong', 'NaN']) {
      expect(err(`/portrait x --strength ${bad}`).code, bad).toBe('bad_flag_value');
    }
  });
});

describe('parseCommand: /imagine with a picture (image prompts)', () => {
  const photo: PhotoRef = { ref: 'file-9', declaredBytes: 2000, declaredMime: 'image/jpeg', ownerId: '7' };

  it('takes the picture from the options and --iw or --strength as the strength', () => {
    expect(ok('/imagine a castle at dusk --iw 0.7 --ar 16:9', { photo })).toEqual({
      kind: 'imagine',
      prompt: 'a castle at dusk',
      options: { aspect: '16:9' },
      strength: 0.7,
      photo,
    });
    expect(ok('/imagine a castle --strength=0,3', { photo })).toMatchObject({ strength: 0.3, photo });
    expect(ok('/imagine a castle —iw 0.2', { photo })).toMatchObject({ prompt: 'a castle', strength: 0.2 });
  });

  it('gives a plain imagine without a picture or strength', () => {
    expect(ok('/imagine a castle')).toEqual({ kind: 'imagine', prompt: 'a castle', options: {} });
  });

  it('accepts 0.1 to 0.9 and refuses the rest, naming the range', () => {
    expect(ok('/imagine x --iw 0.1', { photo })).toMatchObject({ strength: 0.1 });
    expect(ok('/imagine x --iw 0.9', { photo })).toMatchObject({ strength: 0.9 });
    for (const bad of ['0', '0.05', '0.95', '1', '1.5', '-0.2', 'high', 'NaN']) {
      const e = err(`/imagine x --iw ${bad}`, { photo });
      expect(e.code, bad).toBe('bad_flag_value');
      expect(e.flag, bad).toBe('--strength');
      expect(e.message, bad).toContain('from 0.1 to 0.9');
    }
  });

  it('names the strength flag as typed: --iw (as /help teaches) or --strength', () => {
    expect(err('/imagine x --iw 2', { photo }).message).toMatch(/^--iw must be a number from 0\.1 to 0\.9/);
    expect(err('/imagine x --strength 2', { photo }).message).toMatch(/^--strength must be a number/);
    const noPicture = err('/imagine a castle --iw 0.5');
    expect(noPicture.code).toBe('bad_flag_value');
    expect(noPicture.message).toBe(
      '--iw sets how closely the result follows a picture, so it needs one: attach a picture to /imagine (or reply to one with it), or leave --iw out.',
    );
    expect(err('/imagine a castle --strength 0.5').message).toMatch(
      /^--strength sets how closely.*leave --strength out\.$/,
    );
  });

  it('refuses --iw and --strength together as one flag given twice', () => {
    expect(err('/imagine x --iw 0.5 --strength 0.6', { photo }).code).toBe('bad_flag_value');
  });

  it('keeps the portrait range for /portrait, with --iw as its alias', () => {
    expect(ok('/portrait x --iw 1.2', { photo })).toMatchObject({ kind: 'portrait', strength: 1.2 });
  });
});

describe('parseCommand: follow-ups and simple commands', () => {
  it('reads /reroll and /cancel as acting on the latest job', () => {
    expect(ok('/reroll')).toEqual({ kind: 'reroll', result: {} });
    expect(ok('/cancel')).toEqual({ kind: 'cancel', result: {} });
  });

  it('turns the 1-based image number of /variation and /upscale into a 0-based index', () => {
    expect(ok('/variation 2')).toEqual({ kind: 'variation', result: { index: 1 } });
    expect(ok('/upscale 1')).toEqual({ kind: 'upscale', result: { index: 0 } });
    expect(ok('/upscale #4')).toEqual({ kind: 'upscale', result: { index: 3 } });
    expect(ok('/variation')).toEqual({ kind: 'variation', result: {} });
  });

  it('refuses image numbers outside 1 to 4', () => {
    for (const bad of ['0', '5', 'two', '1 2']) {
      const e = err(`/upscale ${bad}`);
      expect(e.code, bad).toBe('bad_argument');
      expect(e.message).toContain('1 to 4');
    }
  });

  it('reads the argument-less commands', () => {
    expect(ok('/forget')).toEqual({ kind: 'forget' });
    expect(ok('/quota')).toEqual({ kind: 'quota' });
    expect(ok('/styles')).toEqual({ kind: 'styles' });
    expect(ok('/stats')).toEqual({ kind: 'stats' });
  });

  it('refuses arguments to commands that take none', () => {
    expect(err('/forget everything now').code).toBe('bad_argument');
    expect(err('/reroll 2').code).toBe('bad_argument');
  });

  it('reads /help with an optional topic and /start as help, ignoring a deep-link payload', () => {
    expect(ok('/help')).toEqual({ kind: 'help' });
    expect(ok('/help Imagine')).toEqual({ kind: 'help', topic: 'imagine' });
    expect(ok('/help /limits')).toEqual({ kind: 'help', topic: 'limits' });
    expect(ok('/start')).toEqual({ kind: 'help' });
    expect(ok('/start ref_abc123')).toEqual({ kind: 'help' });
  });
});

describe('parseCommand: /settings', () => {
  it('shows the settings when given nothing', () => {
    expect(ok('/settings')).toEqual({ kind: 'settings' });
  });

  it('reads every key, with a quoted negative', () => {
    expect(ok('/settings style=flux ar=16:9 negative="blurry, text" lang=es previews=off')).toEqual({
      kind: 'settings',
      change: { style: 'flux', aspect: '16:9', negative: 'blurry, text', language: 'es', previews: false },
    });
  });

  it('accepts typographic quotes, regional language tags and on/off spellings', () => {
    expect(ok('/settings negative=“blurry, text” lang=pt-BR previews=on')).toEqual({
      kind: 'settings',
      change: { negative: 'blurry, text', language: 'pt', previews: true },
    });
  });

  it('reads /settings reset', () => {
    expect(ok('/settings reset')).toEqual({ kind: 'settings', change: { reset: true } });
  });

  it('refuses unknown keys, bad values, bare words and repeated keys', () => {
    expect(err('/settings colour=red').message).toContain('Unknown setting');
    expect(err('/settings ar=5:4').message).toContain('16:9');
    expect(err('/settings lang=fr').message).toContain('en, es, pt');
    expect(err('/settings previews=maybe').code).toBe('bad_argument');
    expect(err('/settings negative=blurry, text').message).toContain('key=value');
    expect(err('/settings style=flux style=sdxl').message).toContain('twice');
    expect(err('/settings reset style=flux').code).toBe('bad_argument');
    expect(err('/settings negative="unclosed').message).toContain('quote');
  });
});

describe('parseCommand: /limits', () => {
  it('reads targets as @id, id, and <@id> / <@!id> mentions, and resolved ids as they are', () => {
    for (const t of ['@123', '123', '<@123>', '<@!123>']) {
      expect(limits(`/limits show ${t}`), t).toEqual({ op: 'show', target: '123' });
    }
    expect(limits('/limits show telegram:123')).toEqual({ op: 'show', target: 'telegram:123' });
  });

  it('refuses a bare @username it cannot resolve and a missing target', () => {
    expect(err('/limits show @alice').message).toContain('numeric user id');
    expect(err('/limits show').code).toBe('missing_argument');
  });

  it('reads set with every limit, and set … clear', () => {
    expect(limits('/limits set @123 daily=50 active=3 burst=5 priority=2')).toEqual({
      op: 'set',
      target: '123',
      limits: { dailyImages: 50, maxActive: 3, burstPerMinute: 5, priority: 2 },
    });
    expect(limits('/limits set @123 clear')).toEqual({ op: 'set', target: '123', limits: {}, clear: true });
  });

  it('refuses set without values, with unknown keys, or with active=0', () => {
    expect(err('/limits set @123').code).toBe('missing_argument');
    expect(err('/limits set @123 monthly=5').code).toBe('bad_argument');
    expect(err('/limits set @123 active=0').message).toContain('from 1');
    expect(err('/limits set @123 daily=-1').code).toBe('bad_argument');
    expect(err('/limits set @123 clear daily=1').code).toBe('bad_argument');
  });

  it('reads grant, reset and unban', () => {
    expect(limits('/limits grant @123 10')).toEqual({ op: 'grant', target: '123', amount: 10 });
    expect(limits('/limits reset @123')).toEqual({ op: 'reset', target: '123' });
    expect(limits('/limits unban <@123>')).toEqual({ op: 'unban', target: '123' });
    expect(err('/limits grant @123').code).toBe('missing_argument');
    expect(err('/limits grant @123 0').code).toBe('bad_argument');
  });

  it('reads ban with a duration and reason, without a duration as permanent', () => {
    expect(limits('/limits ban @123 7d spamming the channel')).toEqual({
      op: 'ban',
      target: '123',
      durationSeconds: 7 * 86_400,
      reason: 'spamming the channel',
    });
    expect(limits('/limits ban @123 30m')).toEqual({
      op: 'ban',
      target: '123',
      durationSeconds: 1800,
      reason: '',
    });
    expect(limits('/limits ban @123 1d12h')).toMatchObject({ durationSeconds: 36 * 3600 });
    expect(limits('/limits ban @123 12h')).toMatchObject({ durationSeconds: 12 * 3600 });
    expect(limits('/limits ban @123 spamming')).toEqual({ op: 'ban', target: '123', reason: 'spamming' });
    expect(limits('/limits ban @123 permanent spam')).toEqual({ op: 'ban', target: '123', reason: 'spam' });
  });

  it('refuses bans shorter than a minute or a reason over 300 characters', () => {
    expect(err('/limits ban @123 30s').message).toContain('1 minute');
    expect(err(`/limits ban @123 1d ${'r'.repeat(301)}`).message).toContain('300');
  });

  it('reads default and role limits', () => {
    expect(limits('/limits default daily=20')).toEqual({ op: 'default', limits: { dailyImages: 20 } });
    expect(limits('/limits role 98765 daily=50 priority=5')).toEqual({
      op: 'role',
      role: '98765',
      limits: { dailyImages: 50, priority: 5 },
    });
    expect(limits('/limits role <@&98765> clear')).toEqual({
      op: 'role',
      role: '98765',
      limits: {},
      clear: true,
    });
  });

  it('reads scope settings: show, and every key', () => {
    expect(limits('/limits settings')).toEqual({ op: 'settings' });
    expect(
      limits(
        '/limits settings block+=word block+="two, words" block-=old styles=sdxl,Flux default_style=sdxl previews=on portraits_from_others=off',
      ),
    ).toEqual({
      op: 'settings',
      change: {
        blockAdd: ['word', 'two, words'],
        blockRemove: ['old'],
        allowedStyles: ['sdxl', 'flux'],
        defaultStyle: 'sdxl',
        previews: true,
        portraitsFromOthersPhotos: false,
      },
    });
  });

  it('refuses unknown scope settings and block= without + or -', () => {
    expect(err('/limits settings colour=red').code).toBe('bad_argument');
    expect(err('/limits settings block=word').message).toContain('block+=');
  });

  it('reads top and audit with a default count of 10 and a bound of 50', () => {
    expect(limits('/limits top')).toEqual({ op: 'top', count: 10 });
    expect(limits('/limits top 5')).toEqual({ op: 'top', count: 5 });
    expect(limits('/limits audit')).toEqual({ op: 'audit', count: 10 });
    expect(limits('/limits audit 50')).toEqual({ op: 'audit', count: 50 });
    expect(err('/limits audit 51').code).toBe('bad_argument');
  });

  it('refuses an unknown subcommand and lists the known ones', () => {
    const e = err('/limits frobnicate @1');
    expect(e.code).toBe('bad_argument');
    expect(e.message).toContain('grant');
    expect(err('/limits').code).toBe('missing_argument');
  });
});

describe('parseCommand: command names and addressing', () => {
  it('reads command names case-insensitively', () => {
    expect(ok('/Imagine a fox')).toMatchObject({ kind: 'imagine', prompt: 'a fox' });
    expect(ok('/QUOTA')).toEqual({ kind: 'quota' });
  });

  it('accepts /cmd@ourbot, case-insensitively, and refuses /cmd@otherbot as unknown_command', () => {
    expect(ok('/imagine@ComfyBot a fox', { botUsername: 'comfybot' })).toMatchObject({ prompt: 'a fox' });
    expect(ok('/quota@comfybot', { botUsername: '@ComfyBot' })).toEqual({ kind: 'quota' });
    const e = err('/imagine@OtherBot a fox', { botUsername: 'comfybot' });
    expect(e.code).toBe('unknown_command');
    expect(e.message).toContain('another bot');
  });

  it('accepts /cmd@anything when the adapter gives no bot username', () => {
    expect(ok('/quota@somebot')).toEqual({ kind: 'quota' });
  });

  it('refuses text without a slash and suggests /imagine', () => {
    const e = err('imagine a fox');
    expect(e.code).toBe('unknown_command');
    expect(e.message).toContain('/imagine');
    expect(err('').code).toBe('unknown_command');
  });

  it('refuses an unknown command and suggests the nearest one', () => {
    const e = err('/imagin a fox');
    expect(e.code).toBe('unknown_command');
    expect(e.message).toContain('Did you mean /imagine?');
  });
});

describe('parseCommand: properties', () => {
  const photo: PhotoRef = { ref: 'file-1' };
  const heads = fc.constantFrom(
    '/imagine',
    '/portrait',
    '/IMAGINE',
    '/imagine@bot',
    '/imagine@other',
    '/settings',
    '/variation',
    '/upscale',
    '/help',
    '/reroll',
    '/limits',
    '/limits show',
    '/limits set',
    '/limits grant',
    '/limits ban',
    '/limits default',
    '/limits role',
    '/limits settings',
    '/limits top',
    '/limits audit',
    'imagine',
    '',
  );
  const tokens = fc.constantFrom(
    '--',
    '—',
    '–',
    '--ar',
    '—ar',
    '--aspect=',
    '--seed',
    '--no',
    '--style',
    '--png',
    '--count',
    '--steps',
    '--strength',
    '--bogus',
    '=',
    '+=',
    '-=',
    '"',
    "'",
    '“',
    '”',
    '«',
    '@123',
    '@alice',
    '<@!1>',
    '<@&9>',
    '16:9',
    '5:4',
    '42',
    '9007199254740993',
    '0.8',
    '2',
    '7d',
    '30s',
    'clear',
    'reset',
    'daily=5',
    'active=0',
    'block+=x',
    'block-="a b"',
    'styles=sdxl,flux',
    'previews=on',
    'lang=es',
    'negative=“x”',
    'a fox',
    'A  Fox\n',
  );
  const body = fc
    .array(fc.oneof({ weight: 4, arbitrary: tokens }, fc.string(), fc.string({ unit: 'grapheme' })), {
      maxLength: 10,
    })
    .chain((parts) => fc.constantFrom(' ', '', '\n').map((sep) => parts.join(sep)));
  const commandish = fc.tuple(heads, fc.constantFrom(' ', '  ', '\n', ''), body).map((t) => t.join(''));

  it('never throws, and every intent it yields passes IntentSchema', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 6, arbitrary: commandish },
          fc.string({ maxLength: 2000 }),
          fc.string({ unit: 'binary' }),
        ),
        fc.boolean(),
        (text, withPhoto) => {
          const r = parseCommand(text, withPhoto ? { photo, botUsername: 'bot' } : {});
          if (r.ok) expect(() => IntentSchema.parse(r.intent)).not.toThrow();
          // The schema safety net inside parseCommand never has to catch anything: the parser's own
          // checks already refuse what the schema would.
          else expect(r.error.key).not.toBe('parse.invalid');
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('reads back every option it is given, in any order, with any dash and quote style', () => {
    const dash = fc.constantFrom('--', '—', '–');
    const word = fc.stringMatching(/^[a-z][a-z ,]{0,20}[a-z]$/);
    const optionsArb = fc.record(
      {
        aspect: fc.constantFrom('1:1', '16:9', '9:21', '3:2'),
        seed: fc.integer({ min: 0, max: MAX_SEED }),
        steps: fc.integer({ min: 1, max: 150 }),
        count: fc.integer({ min: 1, max: 4 }),
        negative: word,
        style: fc.constantFrom('flux', 'sdxl', 'anime'),
        png: fc.constant(true),
      },
      { requiredKeys: [] },
    );
    const quote = fc.constantFrom<[string, string]>(['"', '"'], ['“', '”'], ["'", "'"]);
    fc.assert(
      fc.property(word, optionsArb, dash, quote, fc.boolean(), (prompt, options, d, [open, close], first) => {
        const flags = Object.entries(options).map(([k, v]) => {
          const name = k === 'aspect' ? 'ar' : k === 'negative' ? 'no' : k;
          if (k === 'png') return `${d}png`;
          return k === 'negative' ? `${d}${name} ${open}${String(v)}${close}` : `${d}${name} ${String(v)}`;
        });
        const text = first
          ? `/imagine ${flags.join(' ')} ${prompt}`
          : `/imagine ${prompt} ${flags.join(' ')}`;
        expect(ok(text)).toEqual({ kind: 'imagine', prompt, options });
      }),
    );
  });

  it('passes any flag-free prompt through unchanged apart from trimming', () => {
    const safeText = fc
      .string({ minLength: 1, maxLength: 300 })
      .filter((s) => !/(^|\s)(--|[—–])/u.test(s) && !/["“”„«]/u.test(s) && s.trim() !== '');
    fc.assert(
      fc.property(safeText, (prompt) => {
        const r = parseCommand(`/imagine ${prompt}`);
        expect(r.ok).toBe(true);
        if (r.ok && r.intent.kind === 'imagine') expect(r.intent.prompt).toBe(prompt.trim());
      }),
    );
  });
});
