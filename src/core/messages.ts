/**
 * Every text users read, once for all platforms, in English, Spanish and Portuguese. Adapters never
 * build user-facing sentences themselves: they render what the core returns.
 */
import type { Language } from './intents.js';

/** A message inside another one's parameter: rendered in the same language. */
export interface MessageRef {
  readonly key: MessageKey;
  readonly params?: Params;
}
export type Params = Readonly<Record<string, string | number | MessageRef>>;

const en = {
  'stage.queued': 'Queued',
  'stage.starting': 'Starting',
  'stage.loading': 'Loading model',
  'stage.sampling': 'Drawing',
  'stage.decoding': 'Finishing',
  'stage.uploading': 'Sending',
  'stage.gpu_starting': 'Starting a GPU…',
  'progress.position': '#{position} in line',
  'progress.eta': 'about {eta}',
  'progress.elapsed': '{elapsed} elapsed',
  'progress.relaxed_waiting': 'relaxed: starts when no fast job waits',
  'progress.relaxed': 'relaxed',
  queued: 'Queued #{position}{eta} as job {id}. /cancel stops it.',
  'queued.eta': ', about {eta}',
  'result.caption': '{prompt}\nseed {seed} · {style} · {seconds} s',
  'result.saved': 'Saved: {paths}',
  'result.failed': 'Could not make your image: {reason} Your quota was not charged.',
  'result.cancelled': 'Job {id} was cancelled; your quota was not charged.',
  'result.cancel_too_late': 'Job {id} had already finished when the cancel arrived: delivered and charged.',
  'error.no_face': 'no face was found in the photo. Send a clear, front-facing photo of one face.',
  'error.out_of_memory': 'the GPU ran out of memory. Try fewer images or a smaller size.',
  'error.missing_model':
    'the GPU server lacks a model this style needs. Try another style; an operator has been told.',
  'error.missing_node': 'the GPU server lacks a node this style needs. Try another style.',
  'error.model_unloadable':
    'this style is misconfigured on the server (a model file it needs cannot be loaded). Try another style; an operator has been told.',
  'error.style_unavailable': 'no GPU server can run this style right now. Try another style (/styles).',
  'refuse.style_unavailable':
    'No GPU server can run the "{style}" style right now. Try another style (/styles).',
  'error.backend_unavailable': 'the GPU servers are not answering. Try again in a few minutes.',
  'error.timeout': 'it took too long.',
  'error.queued_timeout': 'the line was too long and the job waited too much. Try again later.',
  'error.reference_missing': 'the photo for this job has expired. Send it again.',
  'error.image_prompt_unsupported':
    'this style can no longer start from a picture. Send the picture again with another style (/styles).',
  'error.blob_cap': 'the bot is storing too many images right now. Try again in a few minutes.',
  'error.generic': 'the GPU server failed while drawing.',
  'refuse.banned': 'You are banned from making images here{until}.{reason}',
  'refuse.banned.until': ' until {until}',
  'refuse.daily_limit':
    'No images left today (daily allowance {allowed}). Your allowance resets in {resetIn}.',
  'refuse.too_many_active':
    'Jobs in progress: {active} of {max} allowed at once. Wait for one to finish or /cancel it.',
  'refuse.burst': 'Slow down a little: try again in {retryIn}.',
  'refuse.budget_exhausted': "Today's image budget for this bot is used up. It resets in {resetIn}.",
  'refuse.scope_not_allowed': 'This bot is not enabled for this server or group.',
  'refuse.queue_full': 'The line is full right now ({waiting} waiting). Try again in a few minutes.',
  'refuse.prompt_blocked': 'This prompt is not allowed here.',
  'refuse.style_not_allowed': 'The style "{style}" is not enabled here. Allowed: {styles}.',
  'refuse.unknown_style': 'There is no style "{style}". Available: {styles}.',
  'refuse.invalid_params': '{message}',
  'refuse.photo_required': 'Attach a photo of a face (or reply to one) with /portrait.',
  'refuse.photo_from_others':
    'Portraits can only be made from your own photos here: send your own photo with /portrait. A moderator can allow others’ photos with /limits settings portraits_from_others=on.',
  'refuse.photo': 'That photo cannot be used: {message}',
  'photo.too_large':
    'The image is over the {mb} MB limit. Send a smaller or compressed version (a photo rather than a file).',
  'photo.too_many_pixels':
    'The image has too many pixels; the limit is {mp} megapixels. Resize it and send it again.',
  'photo.corrupt_image':
    'The {format} file is damaged or incomplete (was the download or upload cut short?). Send the picture again.',
  'photo.not_an_image': 'The file is not a picture we can read. Send a photo (JPEG, PNG, WebP or GIF).',
  'photo.empty': 'The file is empty. Send the picture again.',
  'photo.svg': 'The file is an SVG drawing, which is not accepted. Send a photo (JPEG, PNG or WebP).',
  'photo.heic':
    'HEIC photos cannot be read. Send it as JPEG (on iPhone: Settings › Camera › Formats › Most Compatible).',
  'photo.unsupported_format':
    'The file is a {format} file, which is not accepted. Send a JPEG, PNG or WebP photo.',
  'refuse.album': 'You sent several photos: I used the first one.',
  'refuse.not_yours': 'Only the person who asked (or a moderator) can use these buttons.',
  'refuse.expired': 'This result has expired; buttons work for {days} days. Start a new /imagine.',
  'refuse.no_previous': 'You have no earlier image here yet. Start with /imagine.',
  'refuse.not_moderator': 'Only moderators can do that.',
  'refuse.above_ceiling': 'That is above the limit the operator allows ({field} at most {max}).',
  'refuse.invalid': 'That change is not valid: {reason}',
  'refuse.store_full': 'The bot is storing too many images right now. Try again in a few minutes.',
  'refuse.unavailable': 'Image generation is not available right now: no GPU server is up. Try again later.',
  'refuse.photo_not_image': 'That file is not a picture. Attach a JPEG, PNG or WebP photo.',
  'refuse.photo_fetch_failed': 'Your picture could not be fetched. Send it again; nothing was charged.',
  'refuse.image_prompt_style':
    'The "{style}" style cannot start from a picture. Styles that can: {styles}. Pick one of them as the style, or send the prompt without the picture.',
  'refuse.image_prompt_none':
    'The "{style}" style cannot start from a picture, and no style allowed here can. Send the prompt without the picture.',
  'refuse.strength_needs_picture':
    '{flag} sets how closely the result follows a picture, so it needs one: attach a picture to /imagine (or reply to one with it), or leave {flag} out.',
  'refuse.picture_from_others':
    'Image prompts can only start from your own pictures here: send your own picture with /imagine. A moderator can allow others’ pictures with /limits settings portraits_from_others=on.',
  'refuse.unknown_button': 'This button no longer works. Start a new /imagine.',
  'refuse.internal': 'Something went wrong on our side. Try again in a moment.',
  'discord.missing_permissions':
    'Heads-up: I lack {permissions} in this channel. I can answer here for 15 minutes; a job that takes longer reaches you by direct message instead. A moderator can grant these to fix it.',
  'permission.view_channel': 'View Channel',
  'permission.send_messages': 'Send Messages',
  'permission.send_messages_in_threads': 'Send Messages in Threads',
  'permission.attach_files': 'Attach Files',
  'permission.embed_links': 'Embed Links',
  // Parser errors: each says what is wrong and how to write it instead.
  'parse.empty': 'Type a command, for example /imagine a fox in snow. /help lists them all.',
  'parse.no_slash':
    'Commands start with a slash: /imagine … makes a picture, for example /imagine a fox in snow. /help lists them all.',
  'parse.unknown_command': 'Unknown command {command}.{hint} Commands: {commands}.',
  'parse.did_you_mean': ' Did you mean /{command}?',
  'parse.other_bot': '/{command}@{bot} is for another bot (@{bot}).',
  'parse.requeue_id':
    '/requeue takes the id of a failed job, as /failed lists it: for example /requeue console-abc-1.',
  'parse.no_arguments': '/{command} takes no arguments; send just /{command}.',
  'parse.image_number': '/{command} takes the image number, 1 to {max}: for example /{command} 2.',
  'parse.message_too_long': 'The message is {length} characters; a prompt may have {max}. Shorten it.',
  'parse.flag_twice': '{flag} is given twice; keep one ({example}).',
  'parse.empty_prompt.imagine': 'Say what to draw: /imagine a fox in snow --ar 16:9.',
  'parse.empty_prompt.portrait': 'Say what the portrait shows: /portrait smiling knight in armour.',
  'parse.prompt_too_long': 'The prompt is {length} characters; the limit is {max}. Shorten it.',
  'parse.unknown_flag':
    'Unknown flag {flag}. Flags of /{command}: {flags}. For "--" in your text, put a space after it.',
  'parse.portrait_only': '{flag} only works with /portrait.',
  'parse.flag_takes_no_value': '{flag} takes no value: just {example}.',
  'parse.flag_needs_value': '{flag} needs a value, for example {example}.',
  'parse.flag_unclosed_quote': '{flag}: close the quote you opened ({quote}).',
  'parse.flag_one_of': '{flag} must be one of {values}; you wrote "{raw}".',
  'parse.flag_whole': '{flag} must be a whole number from {min} to {max}; you wrote "{raw}".',
  'parse.flag_style': '{flag} takes a style name like flux or sdxl (/styles lists them); you wrote "{raw}".',
  'parse.flag_strength': '{flag} must be a number from 0 to {max}, like 0.8; you wrote "{raw}".',
  'parse.flag_image_strength':
    '{flag} must be a number from {min} to {max}, like 0.4 (higher keeps more of the picture); you wrote "{raw}".',
  'parse.negative_too_long': 'The {flag} text is {length} characters; the limit is {max}. Shorten it.',
  'parse.unclosed_quote': 'Close the quote you opened ({quote}).',
  'parse.settings_reset_alone': '/settings reset stands alone: it forgets every saved default.',
  'parse.not_key_value': '"{word}" is not key=value. Use {keys}; put a value with spaces in quotes.',
  'parse.unknown_setting': 'Unknown setting "{key}". Settings: {keys}.',
  'parse.given_twice': '{key} is given twice; keep one.',
  'parse.setting_style': 'style takes a style name like flux or sdxl (/styles lists them).',
  'parse.one_of': '{key} must be one of {values}.',
  'parse.setting_too_long': '{key} is {length} characters; the limit is {max}.',
  'parse.on_off': '{key} must be on or off.',
  'parse.limits_missing_op': '/limits needs a subcommand: {ops}.',
  'parse.limits_unknown_op': 'Unknown /limits subcommand "{op}". Use one of: {ops}.',
  'parse.usage': 'Usage: {example}.',
  'parse.usage_ban': 'Usage: {example} (without a duration the ban lasts until /limits unban).',
  'parse.whose_limits': 'Say whose limits. {usage}',
  'parse.only_user': 'Only a user goes here. {usage}',
  'parse.grant_amount': 'The amount is a whole number from 1 to {max}. {usage}',
  'parse.which_role': 'Say which role. {usage}',
  'parse.list_count': 'The count is a whole number from 1 to {max}. {usage}',
  'parse.unknown_user':
    "Can't tell who {who} is: give the numeric user id (@123), a mention, or @me for yourself. {usage}",
  'parse.not_user': '"{who}" is not a user. {usage}',
  'parse.not_role': '"{who}" is not a role id. {usage}',
  'parse.which_limits': 'Say which limits to set. {usage}',
  'parse.clear_alone': 'clear stands alone: it removes every override. {usage}',
  'parse.not_limit': '"{word}" is not one of daily=, active=, burst=, priority=. {usage}',
  'parse.limit_range': '{key} must be a whole number from {min} to {max}.',
  'parse.who_to_ban': 'Say who to ban. {usage}',
  'parse.ban_too_short': 'A ban lasts at least 1 minute (1m). {usage}',
  'parse.ban_too_long':
    'A ban lasts at most 3650 days; leave the duration out to ban until unbanned. {usage}',
  'parse.reason_too_long': 'The reason is limited to {max} characters. {usage}',
  'parse.not_scope_setting': '"{word}" is not a setting here. Use {keys}.',
  'parse.block_op': 'Add or remove blocked words with block+= and block-=. {usage}',
  'parse.block_needs_word': '{key}{op} needs a word. {usage}',
  'parse.takes_equals': '{key} takes {key}=value. {usage}',
  'parse.styles_list':
    'styles takes style names separated by commas, like styles=sdxl,flux, or styles=all for every style.',
  'parse.cancel_argument':
    '/cancel takes nothing (your newest job), all, or a job id as /quota shows it: /cancel, /cancel all, /cancel <id>.',
  'parse.default_style': 'default_style takes a style name like sdxl.',
  'parse.invalid': 'Invalid command: {detail}.',
  // Refusals that name the true reason and the fix.
  'refuse.daily_short':
    'Images left today: {left}; this request needs {needed}. Ask for fewer (--count) or wait {resetIn} for the daily reset.',
  'refuse.image_range':
    'That result has {count} images: choose one from 1 to {count}, for example /{command} {count}.',
  'refuse.image_range_one': 'That result has one image: use /{command} 1.',
  'refuse.not_ready': 'Your last job has no images yet: wait for it to finish, then try again.',
  'refuse.no_images': 'Your last job made no images (it failed or was cancelled). Start a new /imagine.',
  'refuse.style_cannot':
    'The "{style}" style cannot do {what}. Styles that can: {styles}. Add --style with one of them, or leave {what} out.',
  'refuse.option_unsupported':
    '{what} does not work with the "{style}" style ({detail}). Change it or leave it out.',
  'refuse.option_range': '{what} is outside what the "{style}" style takes: use {min} to {max}.',
  'notice.negative_dropped': 'The "{style}" style does not use a negative prompt: yours was left out.',
  'notice.count_dropped': 'A picture is redrawn one image at a time: {what} was left out.',
  'notice.image_prompt': 'Starting from your picture ({width}×{height}, strength {strength}).',
  'console.photo_missing':
    'There is no file {path}. Give the path of a photo of a face: /portrait ./me.jpg smiling knight.',
  'console.photo_unreadable': 'Cannot read {path} ({reason}). Give the path of a JPEG, PNG or WebP photo.',
  'console.photo_not_file': '{path} is a folder, not a photo. Give the path of a JPEG, PNG or WebP photo.',
  'console.photo_not_regular':
    '{path} is not a file (a device or a pipe). Give the path of a JPEG, PNG or WebP photo.',
  'console.picture_missing':
    'There is no file {path}. Give the path of a picture: /imagine ./pic.png a castle at dusk.',
  'console.describe_missing': 'There is no file {path}. Give the path of a picture: /describe ./pic.png.',
  'console.describe_needs_path':
    'Give the path of a picture after /describe, and I will suggest prompts for it: /describe ./pic.png.',
  'console.portrait_needs_path':
    'Give the path of a photo of a face after /portrait: /portrait ./me.jpg smiling knight.',
  'console.ready':
    'Console chat ready. Try: /imagine a red fox in snow --ar 16:9   (/help lists every command)',
  'console.result': '  seed {seed} · {style} · {seconds} s',
  'help.console':
    'Make images:\n/imagine a red fox in snow --ar 16:9 --seed 42 --no people --style flux --count 4\n  flags: --ar 16:9 · --seed 42 · --steps 30 · --count 1–4 · --no what to avoid · --style name (/styles) · --lora name:0.8 (/loras) · --png\n/imagine ./pic.png a castle at dusk --iw 0.6   (start from a picture: --iw 0.1–0.9, default 0.4)\n/portrait ./me.jpg smiling knight --strength 0.8   (the path of a photo of one face)\nOn your last result: /reroll (new seed) · /variation 2 · /upscale 1 (the image number)\n/describe ./pic.png   (up to four prompts that describe the picture)\n/cancel · /cancel <id> · /cancel all · /quota · /fast · /relax · /styles · /loras · /settings · /forget',
  'help.discord':
    'Make images:\n/imagine prompt: a red fox in snow, with the options aspect, seed, steps, count (1–4), negative, style, lora and png\n/imagine with the image option starts from that picture (strength 0.1–0.9: how closely it follows it)\n/portrait with a photo of one face and a prompt (strength 0–1.5), or on a photo: Apps → Portrait from this photo\nUnder each result: Reroll, Vary, Upscale and Delete buttons.\n/describe with a picture: up to four prompts for it, each with an Imagine this button\n/cancel · /quota · /fast · /relax · /styles · /loras · /settings · /forget',
  'portrait.default_prompt': 'a portrait photo',
  'command.portrait_menu': 'Portrait from this photo',
  'cancel.none': 'Nothing to cancel: you have no job waiting or running here.',
  'cancel.waiting': 'Cancelled job {id} (it was waiting in line); your quota was not charged.',
  'cancel.running':
    'Stopping job {id} (it was running). I will tell you here how it ends: if its images are already made, they are delivered and charged.',
  'cancel.stopping': 'Job {id} is already being stopped; I will tell you here how it ends.',
  'cancel.finished': 'Job {id} had already finished; nothing was cancelled.',
  'cancel.unknown': 'You have no job {id} waiting or running here. {jobs}',
  'cancel.others': 'You still have: {jobs}. /cancel all stops them all; /cancel <id> stops one.',
  'cancel.all_waiting': 'Cancelled (they were waiting; not charged): {ids}.',
  'cancel.all_running': 'Stopping (they were running; I will tell you here how each ends): {ids}.',
  'cancel.all_finished': 'Already finished, nothing cancelled: {ids}.',
  'cancel.your_jobs': 'Your jobs here: {jobs}.',
  'cancel.no_jobs': 'You have no job waiting or running here.',
  'job.running': '{id} (running)',
  'job.waiting': '{id} (waiting)',
  'job.stopping': '{id} (stopping)',
  'quota.jobs': 'Your jobs: {jobs}. /cancel <id> stops one.',
  'command.cancel.job': 'all, or a job id from /quota (leave empty: your newest job)',
  'refuse.settings.unknown_style':
    'There is no style "{style}". Known styles: {styles}. styles=all allows every style.',
  'refuse.scope_styles_unknown':
    'The styles allowed here ({styles}) are not styles this bot has. A moderator can fix it with /limits settings styles=all.',
  'refuse.settings.all_alone':
    'styles={value} allows every style and stands alone: send styles=all, or list the styles (styles=sdxl,flux).',
  'refuse.settings.styles_none':
    'styles={value} would leave members no style to draw with. List the styles to allow (styles=sdxl,flux), or send styles=all for every style.',
  'refuse.settings.photo_only':
    'With only {styles} allowed, members could not /imagine: those styles need a photo. Add a style that draws from text: {suggest}.',
  'refuse.settings.default_not_allowed':
    'The default style {style} is not among the allowed styles ({styles}): add it to styles= or change default_style= (default_style=clear uses the bot\u2019s default).',
  'refuse.settings.default_photo':
    'default_style={style} needs a photo, so a plain /imagine would always be refused. Pick a style that draws from text: {styles}.',
  'refuse.settings.block_missing': '"{word}" is not on the blocklist here. Blocked now: {words}.',
  'refuse.settings.block_everything':
    'The pattern {pattern} would block every prompt. Block words or a narrower pattern.',
  'refuse.settings.bad_pattern':
    'The pattern {pattern} is not a valid regular expression: check its brackets and escapes.',
  'limits.saved_zero_daily':
    'Saved. Note: with daily=0, members here can make no images (except through a role tier or override that allows more). /limits default clear undoes it.',
  'refuse.target_local':
    '@local names the console\u2019s own user. Here, use @me for yourself or a numeric user id (@123).',
  'failed.requeued': ' · requeued as {id}',
  'delete.done': 'Deleted.',
  'forget.done':
    'Done: deleted {records} saved jobs and {photos} photos, your settings and your usage record.',
  'settings.saved': 'Saved your settings.',
  'settings.show':
    'Your settings: style {style}, aspect {aspect}, negative "{negative}", language {language}, previews {previews}.\nChange with /settings style=flux ar=16:9 negative="blurry" lang=es previews=off, or /settings reset.',
  'quota.view':
    'Today: {used} of {allowed} images used{here}{credits}. In progress: {active} of {maxActive}. Resets in {resetIn}.',
  'quota.credits': ', {credits} bonus credits',
  'quota.here': ' (in this chat: {used} of {allowed})',
  'quota.relax':
    '\nRelax lane: {used} of {cap} images today, no quota spent. Your next jobs: {lane} (/fast, /relax).',
  'quota.relax_off': '\nYour next jobs: {lane}.',
  'word.lane_fast': 'fast',
  'word.lane_relax': 'relax',
  'lane.fast': 'Your next jobs take the fast lane: they start in turn and spend your daily quota.',
  'lane.relax':
    'Your next jobs take the relax lane: they spend no quota and start when no fast job waits (up to {cap} a day). /fast switches back.',
  'refuse.relax_off': 'The relax lane is turned off on this bot: your jobs take the fast lane.',
  'refuse.relax_off_here':
    'The relax lane is turned off here. A moderator can allow it with /limits settings relax=on; /fast uses the fast lane.',
  'refuse.relax_limit':
    'You have started your {cap} relax images for today. They are back in {resetIn}; /fast uses your daily quota.',
  'refuse.relax_hint': '/relax keeps you drawing without quota: relaxed jobs start when no fast job waits.',
  'queued.relaxed': ' (relaxed: starts when no fast job waits)',
  'limits.everywhere': ' here ({used} in every chat)',
  'styles.header': 'Styles you can use:',
  'styles.line': '• {name}: {label}{weight}',
  'styles.weight': ' ({units} units per image)',
  help: 'Make images:\n/imagine a red fox in snow --ar 16:9 --seed 42 --no people --style flux --count 4\n  flags: --ar 16:9 · --seed 42 · --steps 30 · --count 1–4 · --no what to avoid · --style name (/styles) · --lora name:0.8 (/loras) · --png (a lossless file)\n/imagine a castle at dusk --iw 0.6 as the caption of a picture (or in reply to one) starts from it (--iw 0.1–0.9, default 0.4)\n/portrait smiling knight --strength 0.8 as the caption of a photo of one face (or in reply to one)\nUnder each result: Reroll, Vary, Upscale and Delete buttons; /reroll, /variation 2 and /upscale 1 work too.\n/describe as the caption of a picture (or in reply to one): up to four prompts for it, each with an Imagine this button\n/cancel · /quota · /fast · /relax · /styles · /loras · /settings · /forget',
  'help.mod':
    'Moderators: /limits show|set|grant|reset|ban|unban|default|role|settings|top|audit, /stats [today|7d|30d], /failed, /requeue <id>',
  'limits.user':
    'User {user}: {used} of {allowed} today{everywhere}, credits {credits}, active {active}/{maxActive}, priority {priority}{ban}.',
  'limits.ban': ', banned{until}',
  'limits.ban_reason': ', banned{until}: {reason}',
  'limits.saved': 'Saved.',
  'limits.granted': 'Granted. {user} now has {credits} bonus credits.',
  'limits.reset': "Reset today's usage of {user}.",
  'limits.banned': 'Banned {user}{until}.',
  'limits.unbanned': 'Unbanned {user}.',
  'limits.settings':
    'Settings here: blocked words {blocklist}; styles {styles}; default style {defaultStyle}; previews {previews}; portraits from others\u2019 photos {others}; LoRAs {loras}; relax lane {relax}.',
  'limits.top': 'Most images today:\n{lines}',
  'limits.audit': 'Recent moderator actions:\n{lines}',
  'limits.empty': '(none)',
  stats: 'Last runs per style and backend:\n{lines}',
  'stats.costs':
    'This community, {period}: {jobs} jobs, {images} images, {minutes} GPU minutes, {cost}.\nTop members:\n{members}',
  'stats.member': '{rank}. {user}: {jobs} jobs, {minutes} GPU min, {cost}',
  'stats.no_members': 'nobody yet',
  'stats.today': 'today',
  'stats.days': 'last {days} days',
  'refuse.bad_period':
    'Unknown period "{period}": write /stats today, /stats 7d or /stats 30d (at most {max}d).',
  'parse.stats_period': '/stats takes one period: today, 7d or 30d (for example /stats 7d).',
  'word.on': 'on',
  'word.off': 'off',
  'word.none': 'none',
  // LoRAs (--lora, /loras, /limits settings loras=).
  'refuse.loras_none': 'This bot offers no LoRAs to pick: leave --lora out.',
  'refuse.loras_off_here': 'LoRAs are turned off here (a moderator chose loras=none): leave --lora out.',
  'refuse.lora_unknown': 'There is no LoRA "{lora}". LoRAs you can use here: {loras} (/loras).',
  'refuse.lora_not_allowed': 'The LoRA "{lora}" is not enabled here. LoRAs you can use here: {loras}.',
  'refuse.lora_style':
    'The "{style}" style takes no LoRA. Styles that do: {styles}. Add --style with one of them, or leave --lora out.',
  'refuse.lora_too_many':
    'The "{style}" style takes at most {max} of your LoRAs; you gave {count}. Keep at most {max} of: {loras}.',
  'refuse.lora_twice': 'The LoRA "{lora}" is given twice: give each LoRA once.',
  'refuse.lora_unsuited':
    'The LoRA "{lora}" is made for {suits}, not for the "{style}" style. LoRAs for {style}: {loras}.',
  'refuse.lora_strength':
    'The strength of "{lora}" must be from {min} to {max} (you gave {strength}). Try --lora {lora}:{default}.',
  'refuse.lora_unavailable': 'No GPU server has the LoRA "{lora}" right now. LoRAs you can use now: {loras}.',
  'error.lora_unavailable':
    'no GPU server that can run this style has every LoRA you picked. /loras lists the ones available now.',
  'parse.flag_lora':
    '{flag} takes a LoRA name with an optional strength, like --lora detail or --lora detail:0.8 (/loras lists them); you gave "{raw}".',
  'parse.lora_too_many': 'At most {max} LoRAs in one request.',
  'parse.loras_list':
    'loras takes LoRA names separated by commas, like loras=detail,anime, or loras=all for every LoRA the bot offers, or loras=none.',
  'refuse.settings.unknown_lora':
    'There is no LoRA "{lora}". LoRAs the bot offers: {loras}. loras=all allows every one, loras=none turns them off.',
  'refuse.settings.loras_alone':
    'loras={value} stands alone: send loras={value}, or list the LoRAs (loras=detail,anime).',
  'refuse.settings.loras_unusable':
    'None of {loras} suits a style members can use here ({styles}), so no one could pick them. LoRAs that suit: {suggest}.',
  'loras.header': 'LoRAs you can add with --lora name or --lora name:strength:',
  'loras.line': '• {name}: strength {min} to {max} (default {default}){trigger}{suits}',
  'loras.trigger': ', adds "{trigger}"',
  'loras.suits': ', for {suits}',
  'loras.absent': 'Allowed here but on no GPU server right now: {loras}.',
  'loras.none_present': 'No LoRA allowed here is on a GPU server right now.',
  'loras.none': 'This bot offers no LoRAs to pick.',
  'loras.off_here': 'LoRAs are turned off here. A moderator can allow them with /limits settings loras=all.',
  'command.loras': 'List the LoRAs you can add to /imagine',
  'option.lora': 'LoRAs to add: name or name:strength, separated by commas (/loras lists them)',
  'option.allowed_loras': 'LoRAs allowed here: names separated by commas, all or none',
  'word.default': 'default',
  'word.all': 'all',
  'refuse.channel': 'Posting as a channel is not supported here: send the command from your own account.',
  'command.imagine': 'Make a picture from a prompt',
  'command.portrait': 'A portrait from a photo of a face',
  'command.reroll': 'The last prompt again, new seed',
  'command.variation': 'A variation of your last image',
  'command.upscale': 'Upscale your last image',
  'command.settings': 'Your defaults: style, aspect, language',
  'command.quota': 'Images left today',
  'command.fast': 'Next jobs in the fast lane (spends quota)',
  'command.relax': 'Next jobs in the relax lane (no quota, waits for fast jobs)',
  'command.cancel': 'Stop your newest job (or all, or one by id)',
  'command.styles': 'Styles you can use',
  'command.forget': 'Delete your saved jobs and settings',
  'command.help': 'How to use the bot',
  'command.limits': 'Moderators: limits and settings here',
  'command.stats': 'Moderators: this community’s jobs, GPU time and cost, and recent runs',
  'command.stats.period': 'today (default), 7d, 30d…',
  'option.prompt': 'What to draw',
  'option.negative': 'What to avoid',
  'option.aspect': 'Shape of the image',
  'option.style': 'Style (model and preset)',
  'option.seed': 'Seed, to repeat a result',
  'option.steps': 'Sampling steps',
  'option.count': 'How many images (1–4)',
  'option.png': 'Send a lossless PNG file',
  'option.photo': 'A clear photo of one face',
  'option.portrait_prompt': 'What the portrait shows',
  'option.strength': 'How closely the face follows the photo (0–1.5)',
  'option.image': 'A picture to start from (image prompt)',
  'option.image_strength': 'How closely the result follows the picture (0.1–0.9, default 0.4)',
  'option.default_style': 'Default style',
  'option.default_aspect': 'Default shape',
  'option.default_negative': 'Default negative prompt',
  'option.language': 'Language of the bot',
  'option.previews': 'Show previews while drawing',
  'option.reset': 'Forget every saved default',
  'option.requeue_job': 'Job id, as /failed lists it',
  'option.limits_show': "A member's usage and limits",
  'option.member': 'Member',
  'option.limits_set': "Override a member's limits",
  'option.limits_grant': 'Give bonus images',
  'option.amount': 'Images',
  'option.limits_reset': "Reset a member's usage today",
  'option.limits_ban': 'Stop a member from making images',
  'option.ban_minutes': 'For how long (empty = until unbanned)',
  'option.reason': 'Reason',
  'option.limits_unban': 'Lift a ban',
  'option.limits_default': 'Default limits of this server',
  'option.limits_role': 'Limits of a role',
  'option.role': 'Role',
  'option.limits_settings': 'Show or change the settings of this server',
  'option.block_add': 'Words to block (comma-separated)',
  'option.block_remove': 'Words to unblock (comma-separated)',
  'option.allowed_styles': 'Allowed styles (comma-separated), or all for every style',
  'option.scope_previews': 'Previews while drawing',
  'option.others_photos': "Portraits from other members' photos",
  'option.limits_top': 'Most images today',
  'option.list_count': 'How many',
  'option.limits_audit': 'Recent moderator actions',
  'option.daily': 'Images per day',
  'option.active': 'Jobs at once',
  'option.burst': 'Commands per minute (0 = off)',
  'option.priority': 'Queue priority',
  'option.clear': 'Remove this override',
  'failed.list':
    'Failed jobs of the last 24 h: {count} (newest {shown} shown)\n{lines}\nRun one again for its user: /requeue <id>',
  'failed.line': '{time} {id} · {code}: {message} · {style} · {user} · {backend}{requeued}',
  'failed.none': 'No job failed here in the last 24 h.',
  'requeue.done':
    'Requeued {id} as a new job for {user}. It counts once on their quota (the failed run was refunded).',
  'requeue.unknown': 'No failed job {id} here in the last 24 h. /failed lists them.',
  'requeue.already': 'Job {id} was already requeued as {newId}.',
  'requeue.expired': 'The request or photo of job {id} has expired: ask the user to send it again.',
  'command.failed': 'Moderators: failed jobs of the last day',
  'command.requeue': 'Moderators: run a failed job again',
  'button.reroll': 'Reroll',
  'button.variation': 'Vary {n}',
  'button.upscale': 'Upscale {n}',
  'button.cancel': 'Cancel',
  'button.delete': 'Delete',
  'button.imagine_this': 'Imagine this {n}',
  'describe.result':
    'Prompts that describe your picture:\n{lines}\nTap "Imagine this" to make a picture from one.',
  'describe.result_console':
    'Prompts that describe your picture:\n{lines}\nMake one: /imagine followed by its text.',
  'describe.failed': 'Could not describe your picture: {reason} Your quota was not charged.',
  'error.no_text':
    'the describe workflow returned no text. An operator must check its output nodes and textKey (README, Workflows and styles).',
  'refuse.describe_photo_required':
    'Send /describe with a picture: attach one (or reply to one) with /describe, and I will suggest prompts for it.',
  'refuse.describe_unavailable':
    'No GPU server here can describe pictures right now. An operator must install {needs} on a ComfyUI server (npm run doctor names what is missing).',
  'refuse.description_gone':
    'That description is no longer available (the job expired or failed). Send the picture with /describe again.',
  'refuse.describe_from_others':
    'Only your own pictures can be described here. A moderator can allow it with /limits settings portraits_from_others=on.',
  'command.describe': 'Prompts that describe a picture',
  'option.describe_picture': 'The picture to describe',
} as const;

export type MessageKey = keyof typeof en;
type Table = Readonly<Record<MessageKey, string>>;

const es: Table = {
  'stage.queued': 'En cola',
  'stage.starting': 'Empezando',
  'stage.loading': 'Cargando modelo',
  'stage.sampling': 'Dibujando',
  'stage.decoding': 'Terminando',
  'stage.uploading': 'Enviando',
  'stage.gpu_starting': 'Arrancando una GPU…',
  'progress.position': 'n.º {position} en la cola',
  'progress.eta': 'unos {eta}',
  'progress.elapsed': '{elapsed} transcurridos',
  'progress.relaxed_waiting': 'relax: empieza cuando no espera ningún trabajo rápido',
  'progress.relaxed': 'carril relax',
  queued: 'En cola, n.º {position}{eta}, trabajo {id}. /cancel lo detiene.',
  'queued.eta': ', unos {eta}',
  'result.caption': '{prompt}\nsemilla {seed} · {style} · {seconds} s',
  'result.saved': 'Guardado: {paths}',
  'result.failed': 'No se pudo crear tu imagen: {reason} No se descontó de tu cuota.',
  'result.cancelled': 'El trabajo {id} se canceló; no se descontó de tu cuota.',
  'result.cancel_too_late':
    'El trabajo {id} ya había terminado cuando llegó la cancelación: entregado y descontado.',
  'error.no_face':
    'no se encontró ninguna cara en la foto. Envía una foto nítida y de frente de una sola cara.',
  'error.out_of_memory': 'la GPU se quedó sin memoria. Prueba con menos imágenes o un tamaño menor.',
  'error.missing_model': 'al servidor GPU le falta un modelo que necesita este estilo. Prueba otro estilo.',
  'error.missing_node': 'al servidor GPU le falta un nodo que necesita este estilo. Prueba otro estilo.',
  'error.model_unloadable':
    'este estilo está mal configurado en el servidor (no se puede cargar un modelo que necesita). Prueba otro estilo; ya se avisó a un operador.',
  'error.style_unavailable': 'ningún servidor GPU puede usar este estilo ahora. Prueba otro (/styles).',
  'refuse.style_unavailable':
    'Ningún servidor GPU puede usar el estilo "{style}" ahora. Prueba otro estilo (/styles).',
  'error.backend_unavailable': 'los servidores GPU no responden. Inténtalo de nuevo en unos minutos.',
  'error.timeout': 'tardó demasiado.',
  'error.queued_timeout': 'la cola era demasiado larga y el trabajo esperó demasiado. Inténtalo más tarde.',
  'error.reference_missing': 'la foto de este trabajo caducó. Envíala de nuevo.',
  'error.image_prompt_unsupported':
    'este estilo ya no puede partir de una imagen. Envía la imagen de nuevo con otro estilo (/styles).',
  'error.blob_cap': 'el bot guarda demasiadas imágenes ahora mismo. Inténtalo en unos minutos.',
  'error.generic': 'el servidor GPU falló al dibujar.',
  'refuse.banned': 'Tienes prohibido crear imágenes aquí{until}.{reason}',
  'refuse.banned.until': ' hasta {until}',
  'refuse.daily_limit':
    'No te quedan imágenes hoy (cupo diario: {allowed}). Tu cupo se renueva en {resetIn}.',
  'refuse.too_many_active':
    'Trabajos en curso: {active} de {max} permitidos a la vez. Espera a que termine uno o usa /cancel.',
  'refuse.burst': 'Más despacio: inténtalo de nuevo en {retryIn}.',
  'refuse.budget_exhausted': 'El presupuesto de imágenes de hoy se agotó. Se renueva en {resetIn}.',
  'refuse.scope_not_allowed': 'Este bot no está habilitado en este servidor o grupo.',
  'refuse.queue_full': 'La cola está llena ({waiting} esperando). Inténtalo en unos minutos.',
  'refuse.prompt_blocked': 'Este texto no está permitido aquí.',
  'refuse.style_not_allowed': 'El estilo "{style}" no está habilitado aquí. Permitidos: {styles}.',
  'refuse.unknown_style': 'No existe el estilo "{style}". Disponibles: {styles}.',
  'refuse.invalid_params': '{message}',
  'refuse.photo_required': 'Adjunta una foto de una cara (o responde a una) con /portrait.',
  'refuse.photo_from_others':
    'Aquí solo se pueden hacer retratos con tus propias fotos: envía tu propia foto con /portrait. Un moderador puede permitir las de otros con /limits settings portraits_from_others=on.',
  'refuse.photo': 'No se puede usar esa foto: {message}',
  'photo.too_large':
    'La imagen supera el límite de {mb} MB. Envía una versión más pequeña o comprimida (como foto, no como archivo).',
  'photo.too_many_pixels':
    'La imagen tiene demasiados píxeles; el límite es {mp} megapíxeles. Redúcela y envíala de nuevo.',
  'photo.corrupt_image':
    'El archivo {format} está dañado o incompleto (¿se cortó la descarga o la subida?). Envía la imagen de nuevo.',
  'photo.not_an_image': 'El archivo no es una imagen que pueda leer. Envía una foto (JPEG, PNG, WebP o GIF).',
  'photo.empty': 'El archivo está vacío. Envía la imagen de nuevo.',
  'photo.svg': 'El archivo es un dibujo SVG, que no se admite. Envía una foto (JPEG, PNG o WebP).',
  'photo.heic':
    'No puedo leer fotos HEIC. Envíala como JPEG (en iPhone: Ajustes › Cámara › Formatos › Más compatible).',
  'photo.unsupported_format':
    'El archivo es {format}, un formato que no se admite. Envía una foto JPEG, PNG o WebP.',
  'refuse.album': 'Enviaste varias fotos: usé la primera.',
  'refuse.not_yours': 'Solo quien lo pidió (o un moderador) puede usar estos botones.',
  'refuse.expired': 'Este resultado caducó; los botones duran {days} días. Empieza un nuevo /imagine.',
  'refuse.no_previous': 'Todavía no tienes ninguna imagen aquí. Empieza con /imagine.',
  'refuse.not_moderator': 'Solo los moderadores pueden hacer eso.',
  'refuse.above_ceiling': 'Eso supera el límite que permite el operador ({field} como máximo {max}).',
  'refuse.invalid': 'Ese cambio no es válido: {reason}',
  'refuse.store_full': 'El bot guarda demasiadas imágenes ahora mismo. Inténtalo en unos minutos.',
  'refuse.unavailable':
    'La generación de imágenes no está disponible: ningún servidor GPU responde. Inténtalo más tarde.',
  'refuse.photo_not_image': 'Ese archivo no es una imagen. Adjunta una foto JPEG, PNG o WebP.',
  'refuse.photo_fetch_failed': 'No se pudo obtener tu imagen. Envíala de nuevo; no se te cobró nada.',
  'refuse.image_prompt_style':
    'El estilo "{style}" no puede partir de una imagen. Estilos que sí pueden: {styles}. Elige uno de ellos como estilo, o envía el prompt sin la imagen.',
  'refuse.image_prompt_none':
    'El estilo "{style}" no puede partir de una imagen, y ningún estilo permitido aquí puede. Envía el prompt sin la imagen.',
  'refuse.strength_needs_picture':
    '{flag} indica cuánto se parece el resultado a una imagen, así que necesita una: adjunta una imagen a /imagine (o responde a una con él), o quita {flag}.',
  'refuse.picture_from_others':
    'Aquí solo puedes partir de tus propias imágenes: envía tu propia imagen con /imagine. Un moderador puede permitir las de otros con /limits settings portraits_from_others=on.',
  'refuse.unknown_button': 'Este botón ya no funciona. Empieza un nuevo /imagine.',
  'refuse.internal': 'Algo falló de nuestro lado. Inténtalo de nuevo en un momento.',
  'discord.missing_permissions':
    'Aviso: me falta {permissions} en este canal. Puedo responder aquí durante 15 minutos; un trabajo que tarde más te llegará por mensaje directo. Un moderador puede concederlos para arreglarlo.',
  'permission.view_channel': 'Ver canal',
  'permission.send_messages': 'Enviar mensajes',
  'permission.send_messages_in_threads': 'Enviar mensajes en hilos',
  'permission.attach_files': 'Adjuntar archivos',
  'permission.embed_links': 'Insertar enlaces',
  'parse.empty': 'Escribe un comando, por ejemplo /imagine un zorro en la nieve. /help los muestra todos.',
  'parse.no_slash':
    'Los comandos empiezan con una barra: /imagine … crea una imagen, por ejemplo /imagine un zorro en la nieve. /help los muestra todos.',
  'parse.unknown_command': 'No conozco el comando {command}.{hint} Comandos: {commands}.',
  'parse.did_you_mean': ' ¿Querías decir /{command}?',
  'parse.other_bot': '/{command}@{bot} es para otro bot (@{bot}).',
  'parse.requeue_id':
    '/requeue lleva el id de un trabajo fallido, tal como lo muestra /failed: por ejemplo /requeue console-abc-1.',
  'parse.no_arguments': '/{command} no lleva nada más; envía solo /{command}.',
  'parse.image_number': '/{command} lleva el número de la imagen, del 1 al {max}: por ejemplo /{command} 2.',
  'parse.message_too_long': 'El mensaje tiene {length} caracteres; un texto puede tener {max}. Acórtalo.',
  'parse.flag_twice': '{flag} aparece dos veces; deja solo uno ({example}).',
  'parse.empty_prompt.imagine': 'Di qué quieres dibujar: /imagine un zorro en la nieve --ar 16:9.',
  'parse.empty_prompt.portrait': 'Di qué muestra el retrato: /portrait caballero sonriente con armadura.',
  'parse.prompt_too_long': 'El texto tiene {length} caracteres; el límite es {max}. Acórtalo.',
  'parse.unknown_flag':
    'No conozco la opción {flag}. Opciones de /{command}: {flags}. Si quieres escribir "--" en el texto, pon un espacio después.',
  'parse.portrait_only': '{flag} solo funciona con /portrait.',
  'parse.flag_takes_no_value': '{flag} no lleva valor: escribe solo {example}.',
  'parse.flag_needs_value': '{flag} necesita un valor, por ejemplo {example}.',
  'parse.flag_unclosed_quote': '{flag}: cierra las comillas que abriste ({quote}).',
  'parse.flag_one_of': '{flag} debe ser uno de {values}; escribiste "{raw}".',
  'parse.flag_whole': '{flag} debe ser un número entero del {min} al {max}; escribiste "{raw}".',
  'parse.flag_style':
    '{flag} lleva el nombre de un estilo, como flux o sdxl (/styles los muestra); escribiste "{raw}".',
  'parse.flag_strength': '{flag} debe ser un número del 0 al {max}, como 0,8; escribiste "{raw}".',
  'parse.flag_image_strength':
    '{flag} debe ser un número del {min} al {max}, como 0,4 (más alto conserva más de la imagen); escribiste "{raw}".',
  'parse.negative_too_long': 'El texto de {flag} tiene {length} caracteres; el límite es {max}. Acórtalo.',
  'parse.unclosed_quote': 'Cierra las comillas que abriste ({quote}).',
  'parse.settings_reset_alone': '/settings reset va solo: olvida todos tus valores guardados.',
  'parse.not_key_value':
    '"{word}" no tiene la forma clave=valor. Usa {keys}; pon entre comillas un valor con espacios.',
  'parse.unknown_setting': 'No conozco el ajuste "{key}". Ajustes: {keys}.',
  'parse.given_twice': '{key} aparece dos veces; deja solo uno.',
  'parse.setting_style': 'style lleva el nombre de un estilo, como flux o sdxl (/styles los muestra).',
  'parse.one_of': '{key} debe ser uno de {values}.',
  'parse.setting_too_long': '{key} tiene {length} caracteres; el límite es {max}.',
  'parse.on_off': '{key} debe ser on u off.',
  'parse.limits_missing_op': '/limits necesita un subcomando: {ops}.',
  'parse.limits_unknown_op': 'No conozco el subcomando "{op}" de /limits. Usa uno de: {ops}.',
  'parse.usage': 'Uso: {example}.',
  'parse.usage_ban': 'Uso: {example} (sin duración, el bloqueo dura hasta /limits unban).',
  'parse.whose_limits': 'Di de quién son los límites. {usage}',
  'parse.only_user': 'Aquí solo va un usuario. {usage}',
  'parse.grant_amount': 'La cantidad es un número entero del 1 al {max}. {usage}',
  'parse.which_role': 'Di qué rol. {usage}',
  'parse.list_count': 'La cantidad es un número entero del 1 al {max}. {usage}',
  'parse.unknown_user':
    'No sé quién es {who}: da el id numérico del usuario (@123), una mención o @me para ti. {usage}',
  'parse.not_user': '"{who}" no es un usuario. {usage}',
  'parse.not_role': '"{who}" no es un id de rol. {usage}',
  'parse.which_limits': 'Di qué límites quieres fijar. {usage}',
  'parse.clear_alone': 'clear va solo: quita todos los valores propios. {usage}',
  'parse.not_limit': '"{word}" no es ninguno de daily=, active=, burst=, priority=. {usage}',
  'parse.limit_range': '{key} debe ser un número entero del {min} al {max}.',
  'parse.who_to_ban': 'Di a quién bloquear. {usage}',
  'parse.ban_too_short': 'Un bloqueo dura al menos 1 minuto (1m). {usage}',
  'parse.ban_too_long':
    'Un bloqueo dura como máximo 3650 días; sin duración, dura hasta que lo levantes. {usage}',
  'parse.reason_too_long': 'El motivo admite como máximo {max} caracteres. {usage}',
  'parse.not_scope_setting': '"{word}" no es un ajuste de aquí. Usa {keys}.',
  'parse.block_op': 'Añade o quita palabras bloqueadas con block+= y block-=. {usage}',
  'parse.block_needs_word': '{key}{op} necesita una palabra. {usage}',
  'parse.takes_equals': '{key} se escribe {key}=valor. {usage}',
  'parse.styles_list':
    'styles lleva nombres de estilos separados por comas, como styles=sdxl,flux, o styles=all para todos.',
  'parse.cancel_argument':
    '/cancel va solo (tu trabajo más reciente), con all o con el id de un trabajo tal como lo muestra /quota: /cancel, /cancel all, /cancel <id>.',
  'parse.default_style': 'default_style lleva el nombre de un estilo, como sdxl.',
  'parse.invalid': 'Comando no válido: {detail}.',
  'refuse.daily_short':
    'Imágenes que te quedan hoy: {left}; esta petición necesita {needed}. Pide menos (--count) o espera {resetIn} a que se renueve tu cupo.',
  'refuse.image_range':
    'Ese resultado tiene {count} imágenes: elige una del 1 al {count}, por ejemplo /{command} {count}.',
  'refuse.image_range_one': 'Ese resultado tiene una sola imagen: usa /{command} 1.',
  'refuse.not_ready': 'Tu último trabajo aún no tiene imágenes: espera a que termine y vuelve a intentarlo.',
  'refuse.no_images':
    'Tu último trabajo no produjo imágenes (falló o se canceló). Empieza un nuevo /imagine.',
  'refuse.style_cannot':
    'El estilo "{style}" no admite {what}. Estilos que sí: {styles}. Añade --style con uno de ellos o quita {what}.',
  'refuse.option_unsupported': '{what} no funciona con el estilo "{style}" ({detail}). Cámbialo o quítalo.',
  'refuse.option_range': '{what} se sale de lo que admite el estilo "{style}": usa de {min} a {max}.',
  'notice.negative_dropped': 'El estilo "{style}" no usa prompt negativo: se omitió el tuyo.',
  'notice.count_dropped': 'Una imagen se redibuja de una en una: se omitió {what}.',
  'notice.image_prompt': 'Partiendo de tu imagen ({width}×{height}, fuerza {strength}).',
  'console.photo_missing':
    'No existe el archivo {path}. Da la ruta de una foto de una cara: /portrait ./yo.jpg caballero sonriente.',
  'console.photo_unreadable': 'No puedo leer {path} ({reason}). Da la ruta de una foto JPEG, PNG o WebP.',
  'console.photo_not_file': '{path} es una carpeta, no una foto. Da la ruta de una foto JPEG, PNG o WebP.',
  'console.photo_not_regular':
    '{path} no es un archivo (es un dispositivo o una tubería). Da la ruta de una foto JPEG, PNG o WebP.',
  'console.picture_missing':
    'No existe el archivo {path}. Da la ruta de una imagen: /imagine ./foto.png un castillo al atardecer.',
  'console.describe_missing': 'No existe el archivo {path}. Da la ruta de una imagen: /describe ./foto.png.',
  'console.describe_needs_path':
    'Escribe la ruta de una imagen después de /describe y te sugeriré prompts para ella: /describe ./foto.png.',
  'console.portrait_needs_path':
    'Escribe la ruta de una foto de una cara después de /portrait: /portrait ./yo.jpg caballero sonriente.',
  'console.ready':
    'Chat de consola listo. Prueba: /imagine un zorro rojo en la nieve --ar 16:9   (/help muestra todos los comandos)',
  'console.result': '  semilla {seed} · {style} · {seconds} s',
  'help.console':
    'Crea imágenes:\n/imagine un zorro rojo en la nieve --ar 16:9 --seed 42 --no personas --style flux --count 4\n  opciones: --ar 16:9 · --seed 42 · --steps 30 · --count 1–4 · --no lo que quieres evitar · --style nombre (/styles) · --lora nombre:0.8 (/loras) · --png\n/imagine ./foto.png un castillo al atardecer --iw 0.6   (partir de una imagen: --iw 0.1–0.9, por defecto 0.4)\n/portrait ./yo.jpg caballero sonriente --strength 0.8   (la ruta de una foto de una sola cara)\nSobre tu último resultado: /reroll (otra semilla) · /variation 2 · /upscale 1 (el número de la imagen)\n/describe ./imagen.png   (hasta cuatro prompts que describen la imagen)\n/cancel · /cancel <id> · /cancel all · /quota · /fast · /relax · /styles · /loras · /settings · /forget',
  'help.discord':
    'Crea imágenes:\n/imagine prompt: un zorro rojo en la nieve, con las opciones aspect, seed, steps, count (1–4), negative, style, lora y png\n/imagine con la opción image parte de esa imagen (strength 0,1–0,9: cuánto se parece a ella)\n/portrait con la foto de una sola cara y un texto (strength 0–1.5), o sobre una foto: Apps → Retrato con esta foto\nBajo cada resultado: botones Repetir, Variar, Ampliar y Borrar.\n/describe con una imagen: hasta cuatro prompts para ella, cada uno con un botón Imaginar esto\n/cancel · /quota · /fast · /relax · /styles · /loras · /settings · /forget',
  'portrait.default_prompt': 'un retrato fotográfico',
  'command.portrait_menu': 'Retrato con esta foto',
  'cancel.none': 'No hay nada que cancelar: no tienes ningún trabajo en cola ni en curso aquí.',
  'cancel.waiting': 'Cancelé el trabajo {id} (estaba en cola); no se descontó de tu cuota.',
  'cancel.running':
    'Deteniendo el trabajo {id} (estaba en curso). Te diré aquí cómo termina: si sus imágenes ya están hechas, se entregan y se descuentan.',
  'cancel.stopping': 'El trabajo {id} ya se está deteniendo; te diré aquí cómo termina.',
  'cancel.finished': 'El trabajo {id} ya había terminado; no se canceló nada.',
  'cancel.unknown': 'No tienes ningún trabajo {id} en cola ni en curso aquí. {jobs}',
  'cancel.others': 'Aún tienes: {jobs}. /cancel all los detiene todos; /cancel <id> detiene uno.',
  'cancel.all_waiting': 'Cancelados (estaban en cola; sin descontar): {ids}.',
  'cancel.all_running': 'Deteniendo (estaban en curso; te diré aquí cómo termina cada uno): {ids}.',
  'cancel.all_finished': 'Ya terminados, no se canceló nada: {ids}.',
  'cancel.your_jobs': 'Tus trabajos aquí: {jobs}.',
  'cancel.no_jobs': 'No tienes ningún trabajo en cola ni en curso aquí.',
  'job.running': '{id} (en curso)',
  'job.waiting': '{id} (en cola)',
  'job.stopping': '{id} (deteniéndose)',
  'quota.jobs': 'Tus trabajos: {jobs}. /cancel <id> detiene uno.',
  'command.cancel.job': 'all, o un id de trabajo de /quota (vacío: tu trabajo más reciente)',
  'refuse.settings.unknown_style':
    'No existe el estilo "{style}". Estilos conocidos: {styles}. styles=all permite todos los estilos.',
  'refuse.scope_styles_unknown':
    'Los estilos permitidos aquí ({styles}) no existen en este bot. Un moderador puede arreglarlo con /limits settings styles=all.',
  'refuse.settings.all_alone':
    'styles={value} permite todos los estilos y va solo: envía styles=all o enumera los estilos (styles=sdxl,flux).',
  'refuse.settings.styles_none':
    'styles={value} dejaría a los miembros sin ningún estilo. Enumera los estilos permitidos (styles=sdxl,flux) o envía styles=all para todos.',
  'refuse.settings.photo_only':
    'Con solo {styles} permitidos, nadie podría usar /imagine: esos estilos necesitan una foto. Añade un estilo que dibuje a partir de texto: {suggest}.',
  'refuse.settings.default_not_allowed':
    'El estilo por defecto {style} no está entre los permitidos ({styles}): añádelo a styles= o cambia default_style= (default_style=clear usa el del bot).',
  'refuse.settings.default_photo':
    'default_style={style} necesita una foto, así que un /imagine sin más siempre se rechazaría. Elige un estilo que dibuje a partir de texto: {styles}.',
  'refuse.settings.block_missing':
    '"{word}" no está en la lista de bloqueo de aquí. Bloqueado ahora: {words}.',
  'refuse.settings.block_everything':
    'El patrón {pattern} bloquearía cualquier prompt. Bloquea palabras o un patrón más concreto.',
  'refuse.settings.bad_pattern':
    'El patrón {pattern} no es una expresión regular válida: revisa sus corchetes y escapes.',
  'limits.saved_zero_daily':
    'Guardado. Ojo: con daily=0, los miembros de aquí no pueden crear imágenes (salvo con un nivel de rol o una excepción que permita más). /limits default clear lo deshace.',
  'refuse.target_local':
    '@local designa al usuario de la consola. Aquí usa @me para ti o un id numérico de usuario (@123).',
  'failed.requeued': ' · reencolado como {id}',
  'delete.done': 'Borrado.',
  'forget.done':
    'Hecho: borré {records} trabajos guardados, {photos} fotos, tus ajustes y tu registro de uso.',
  'settings.saved': 'Ajustes guardados.',
  'settings.show':
    'Tus ajustes: estilo {style}, formato {aspect}, negativo "{negative}", idioma {language}, vistas previas {previews}.\nCambia con /settings style=flux ar=16:9 negative="borroso" lang=es previews=off, o /settings reset.',
  'quota.view':
    'Hoy: {used} de {allowed} imágenes usadas{here}{credits}. En curso: {active} de {maxActive}. Se renueva en {resetIn}.',
  'quota.credits': ', {credits} créditos extra',
  'quota.here': ' (en este chat: {used} de {allowed})',
  'quota.relax':
    '\nCarril relax: {used} de {cap} imágenes hoy, sin gastar cuota. Tus próximos trabajos: {lane} (/fast, /relax).',
  'quota.relax_off': '\nTus próximos trabajos: {lane}.',
  'word.lane_fast': 'rápido',
  'word.lane_relax': 'relax',
  'lane.fast': 'Tus próximos trabajos van por el carril rápido: empiezan por turno y gastan tu cuota diaria.',
  'lane.relax':
    'Tus próximos trabajos van por el carril relax: no gastan cuota y empiezan cuando no espera ningún trabajo rápido (hasta {cap} al día). /fast vuelve al rápido.',
  'refuse.relax_off': 'El carril relax está desactivado en este bot: tus trabajos van por el carril rápido.',
  'refuse.relax_off_here':
    'El carril relax está desactivado aquí. Un moderador puede permitirlo con /limits settings relax=on; /fast usa el carril rápido.',
  'refuse.relax_limit':
    'Ya empezaste tus {cap} imágenes relax de hoy. Vuelven en {resetIn}; /fast usa tu cuota diaria.',
  'refuse.relax_hint':
    '/relax te deja seguir dibujando sin cuota: los trabajos relax empiezan cuando no espera ningún trabajo rápido.',
  'queued.relaxed': ' (relax: empieza cuando no espera ningún trabajo rápido)',
  'limits.everywhere': ' aquí ({used} en todos los chats)',
  'styles.header': 'Estilos disponibles:',
  'styles.line': '• {name}: {label}{weight}',
  'styles.weight': ' ({units} unidades por imagen)',
  help: 'Crea imágenes:\n/imagine un zorro rojo en la nieve --ar 16:9 --seed 42 --no personas --style flux --count 4\n  opciones: --ar 16:9 · --seed 42 · --steps 30 · --count 1–4 · --no lo que quieres evitar · --style nombre (/styles) · --lora nombre:0.8 (/loras) · --png (un archivo sin pérdida)\n/imagine un castillo al atardecer --iw 0.6 como pie de una imagen (o respondiendo a una) parte de ella (--iw 0.1–0.9, por defecto 0.4)\n/portrait caballero sonriente --strength 0.8 como pie de la foto de una sola cara (o respondiendo a una)\nBajo cada resultado: botones Repetir, Variar, Ampliar y Borrar; también sirven /reroll, /variation 2 y /upscale 1.\n/describe como pie de una imagen (o respondiendo a una): hasta cuatro prompts para ella, cada uno con un botón Imaginar esto\n/cancel · /quota · /fast · /relax · /styles · /loras · /settings · /forget',
  'help.mod':
    'Moderadores: /limits show|set|grant|reset|ban|unban|default|role|settings|top|audit, /stats [today|7d|30d], /failed, /requeue <id>',
  'limits.user':
    'Usuario {user}: {used} de {allowed} hoy{everywhere}, créditos {credits}, en curso {active}/{maxActive}, prioridad {priority}{ban}.',
  'limits.ban': ', bloqueado{until}',
  'limits.ban_reason': ', bloqueado{until}: {reason}',
  'limits.saved': 'Guardado.',
  'limits.granted': 'Concedido. {user} tiene ahora {credits} créditos extra.',
  'limits.reset': 'Reinicié el uso de hoy de {user}.',
  'limits.banned': 'Bloqueé a {user}{until}.',
  'limits.unbanned': 'Desbloqueé a {user}.',
  'limits.settings':
    'Ajustes aquí: palabras bloqueadas {blocklist}; estilos {styles}; estilo por defecto {defaultStyle}; vistas previas {previews}; retratos con fotos ajenas {others}; LoRAs {loras}; carril relax {relax}.',
  'limits.top': 'Más imágenes hoy:\n{lines}',
  'limits.audit': 'Acciones recientes de moderación:\n{lines}',
  'limits.empty': '(ninguno)',
  stats: 'Últimas ejecuciones por estilo y servidor:\n{lines}',
  'stats.costs':
    'Esta comunidad, {period}: {jobs} trabajos, {images} imágenes, {minutes} minutos de GPU, {cost}.\nQuienes más gastan:\n{members}',
  'stats.member': '{rank}. {user}: {jobs} trabajos, {minutes} min de GPU, {cost}',
  'stats.no_members': 'nadie todavía',
  'stats.today': 'hoy',
  'stats.days': 'últimos {days} días',
  'refuse.bad_period':
    'Periodo desconocido "{period}": escribe /stats today, /stats 7d o /stats 30d (como mucho {max}d).',
  'parse.stats_period': '/stats lleva un solo periodo: today, 7d o 30d (por ejemplo /stats 7d).',
  'word.on': 'sí',
  'word.off': 'no',
  'word.none': 'ninguno',
  // LoRAs (--lora, /loras, /limits settings loras=).
  'refuse.loras_none': 'Este bot no ofrece LoRAs para elegir: quita --lora.',
  'refuse.loras_off_here':
    'Los LoRAs están desactivados aquí (un moderador eligió loras=none): quita --lora.',
  'refuse.lora_unknown': 'No existe el LoRA "{lora}". LoRAs que puedes usar aquí: {loras} (/loras).',
  'refuse.lora_not_allowed': 'El LoRA "{lora}" no está habilitado aquí. LoRAs que puedes usar aquí: {loras}.',
  'refuse.lora_style':
    'El estilo "{style}" no admite LoRAs. Estilos que sí: {styles}. Añade --style con uno de ellos, o quita --lora.',
  'refuse.lora_too_many':
    'El estilo "{style}" admite como máximo {max} de tus LoRAs; diste {count}. Deja como máximo {max} de: {loras}.',
  'refuse.lora_twice': 'El LoRA "{lora}" aparece dos veces: indica cada LoRA una sola vez.',
  'refuse.lora_unsuited':
    'El LoRA "{lora}" está hecho para {suits}, no para el estilo "{style}". LoRAs para {style}: {loras}.',
  'refuse.lora_strength':
    'La fuerza de "{lora}" debe ir de {min} a {max} (diste {strength}). Prueba --lora {lora}:{default}.',
  'refuse.lora_unavailable':
    'Ningún servidor GPU tiene ahora el LoRA "{lora}". LoRAs que puedes usar ahora: {loras}.',
  'error.lora_unavailable':
    'ningún servidor GPU que pueda ejecutar este estilo tiene todos los LoRAs que elegiste. /loras muestra los disponibles ahora.',
  'parse.flag_lora':
    '{flag} lleva el nombre de un LoRA con una fuerza opcional, como --lora detail o --lora detail:0.8 (/loras los muestra); diste "{raw}".',
  'parse.lora_too_many': 'Como máximo {max} LoRAs por pedido.',
  'parse.loras_list':
    'loras lleva nombres de LoRAs separados por comas, como loras=detail,anime, o loras=all para todos los que ofrece el bot, o loras=none.',
  'refuse.settings.unknown_lora':
    'No existe el LoRA "{lora}". LoRAs que ofrece el bot: {loras}. loras=all los permite todos, loras=none los desactiva.',
  'refuse.settings.loras_alone':
    'loras={value} va solo: envía loras={value}, o enumera los LoRAs (loras=detail,anime).',
  'refuse.settings.loras_unusable':
    'Ninguno de {loras} sirve para un estilo que los miembros puedan usar aquí ({styles}), así que nadie podría elegirlos. LoRAs que sirven: {suggest}.',
  'loras.header': 'LoRAs que puedes añadir con --lora nombre o --lora nombre:fuerza:',
  'loras.line': '• {name}: fuerza de {min} a {max} (por defecto {default}){trigger}{suits}',
  'loras.trigger': ', añade "{trigger}"',
  'loras.suits': ', para {suits}',
  'loras.absent': 'Permitidos aquí pero en ningún servidor GPU ahora: {loras}.',
  'loras.none_present': 'Ningún LoRA permitido aquí está ahora en un servidor GPU.',
  'loras.none': 'Este bot no ofrece LoRAs para elegir.',
  'loras.off_here':
    'Los LoRAs están desactivados aquí. Un moderador puede permitirlos con /limits settings loras=all.',
  'command.loras': 'Lista los LoRAs que puedes añadir a /imagine',
  'option.lora': 'LoRAs a añadir: nombre o nombre:fuerza, separados por comas (/loras los muestra)',
  'option.allowed_loras': 'LoRAs permitidos aquí: nombres separados por comas, all o none',
  'word.default': 'por defecto',
  'word.all': 'todos',
  'refuse.channel': 'Aquí no se puede publicar como canal: envía el comando desde tu propia cuenta.',
  'command.imagine': 'Crea una imagen a partir de un texto',
  'command.portrait': 'Un retrato a partir de la foto de una cara',
  'command.reroll': 'El último texto otra vez, con otra semilla',
  'command.variation': 'Una variación de tu última imagen',
  'command.upscale': 'Amplía tu última imagen',
  'command.settings': 'Tus valores: estilo, formato, idioma',
  'command.quota': 'Imágenes que te quedan hoy',
  'command.fast': 'Próximos trabajos en el carril rápido (gasta cuota)',
  'command.relax': 'Próximos trabajos en el carril relax (sin cuota, tras los rápidos)',
  'command.cancel': 'Detén tu trabajo más reciente (o todos, o uno por id)',
  'command.styles': 'Estilos disponibles',
  'command.forget': 'Borra tus trabajos guardados y ajustes',
  'command.help': 'Cómo usar el bot',
  'command.limits': 'Moderadores: límites y ajustes aquí',
  'command.stats': 'Moderadores: trabajos, tiempo de GPU y coste de esta comunidad, y últimas ejecuciones',
  'command.stats.period': 'today (por defecto), 7d, 30d…',
  'option.prompt': 'Qué dibujar',
  'option.negative': 'Qué evitar',
  'option.aspect': 'Forma de la imagen',
  'option.style': 'Estilo (modelo y ajustes)',
  'option.seed': 'Semilla, para repetir un resultado',
  'option.steps': 'Pasos de muestreo',
  'option.count': 'Cuántas imágenes (1–4)',
  'option.png': 'Enviar un archivo PNG sin pérdida',
  'option.photo': 'Una foto nítida de una sola cara',
  'option.portrait_prompt': 'Qué muestra el retrato',
  'option.strength': 'Cuánto se parece la cara a la foto (0–1,5)',
  'option.image': 'Una imagen de la que partir (prompt de imagen)',
  'option.image_strength': 'Cuánto se parece el resultado a la imagen (0,1–0,9; por defecto 0,4)',
  'option.default_style': 'Estilo por defecto',
  'option.default_aspect': 'Forma por defecto',
  'option.default_negative': 'Prompt negativo por defecto',
  'option.language': 'Idioma del bot',
  'option.previews': 'Mostrar vistas previas mientras dibuja',
  'option.reset': 'Olvidar todos los valores guardados',
  'option.requeue_job': 'Id del trabajo, tal como lo muestra /failed',
  'option.limits_show': 'Uso y límites de un miembro',
  'option.member': 'Miembro',
  'option.limits_set': 'Fijar límites propios para un miembro',
  'option.limits_grant': 'Dar imágenes extra',
  'option.amount': 'Imágenes',
  'option.limits_reset': 'Reiniciar el uso de hoy de un miembro',
  'option.limits_ban': 'Impedir que un miembro cree imágenes',
  'option.ban_minutes': 'Por cuánto tiempo (vacío = hasta desbloquear)',
  'option.reason': 'Motivo',
  'option.limits_unban': 'Levantar un bloqueo',
  'option.limits_default': 'Límites por defecto de este servidor',
  'option.limits_role': 'Límites de un rol',
  'option.role': 'Rol',
  'option.limits_settings': 'Ver o cambiar los ajustes de este servidor',
  'option.block_add': 'Palabras que bloquear (separadas por comas)',
  'option.block_remove': 'Palabras que desbloquear (separadas por comas)',
  'option.allowed_styles': 'Estilos permitidos (separados por comas), o all para todos',
  'option.scope_previews': 'Vistas previas mientras dibuja',
  'option.others_photos': 'Retratos con fotos de otros miembros',
  'option.limits_top': 'Quién hizo más imágenes hoy',
  'option.list_count': 'Cuántos',
  'option.limits_audit': 'Acciones recientes de moderación',
  'option.daily': 'Imágenes por día',
  'option.active': 'Trabajos a la vez',
  'option.burst': 'Comandos por minuto (0 = sin límite)',
  'option.priority': 'Prioridad en la cola',
  'option.clear': 'Quitar estos valores propios',
  'failed.list':
    'Trabajos fallidos en las últimas 24 h: {count} (se muestran los {shown} más recientes)\n{lines}\nPara repetir uno para su usuario: /requeue <id>',
  'failed.line': '{time} {id} · {code}: {message} · {style} · {user} · {backend}{requeued}',
  'failed.none': 'Ningún trabajo falló aquí en las últimas 24 h.',
  'requeue.done':
    'Se volvió a encolar {id} como un trabajo nuevo para {user}. Cuenta una vez en su cuota (el intento fallido se devolvió).',
  'requeue.unknown': 'No hay ningún trabajo fallido {id} aquí en las últimas 24 h. /failed los muestra.',
  'requeue.already': 'El trabajo {id} ya se volvió a encolar como {newId}.',
  'requeue.expired': 'La solicitud o la foto del trabajo {id} caducó: pide al usuario que la envíe de nuevo.',
  'command.failed': 'Moderadores: trabajos fallidos del último día',
  'command.requeue': 'Moderadores: repetir un trabajo fallido',
  'button.reroll': 'Repetir',
  'button.variation': 'Variar {n}',
  'button.upscale': 'Ampliar {n}',
  'button.cancel': 'Cancelar',
  'button.delete': 'Borrar',
  'button.imagine_this': 'Imaginar esto {n}',
  'describe.result':
    'Prompts que describen tu imagen:\n{lines}\nToca "Imaginar esto" para crear una imagen con uno.',
  'describe.result_console':
    'Prompts que describen tu imagen:\n{lines}\nCrea una: /imagine seguido de su texto.',
  'describe.failed': 'No pude describir tu imagen: {reason} No se descontó de tu cuota.',
  'error.no_text':
    'el flujo de descripción no devolvió texto. Un operador debe revisar sus nodos de salida y su textKey (README, Workflows and styles).',
  'refuse.describe_photo_required':
    'Envía /describe con una imagen: adjúntala (o responde a una) con /describe y te sugeriré prompts para ella.',
  'refuse.describe_unavailable':
    'Ningún servidor GPU puede describir imágenes ahora. Un operador debe instalar {needs} en un servidor ComfyUI (npm run doctor dice qué falta).',
  'refuse.description_gone':
    'Esa descripción ya no está disponible (el trabajo caducó o falló). Envía la imagen con /describe de nuevo.',
  'refuse.describe_from_others':
    'Aquí solo se pueden describir tus propias imágenes. Un moderador puede permitirlo con /limits settings portraits_from_others=on.',
  'command.describe': 'Prompts que describen una imagen',
  'option.describe_picture': 'La imagen que describir',
};

const pt: Table = {
  'stage.queued': 'Na fila',
  'stage.starting': 'Começando',
  'stage.loading': 'Carregando modelo',
  'stage.sampling': 'Desenhando',
  'stage.decoding': 'Finalizando',
  'stage.uploading': 'Enviando',
  'stage.gpu_starting': 'Iniciando uma GPU…',
  'progress.position': 'n.º {position} na fila',
  'progress.eta': 'cerca de {eta}',
  'progress.elapsed': '{elapsed} decorridos',
  'progress.relaxed_waiting': 'relax: começa quando nenhum trabalho rápido espera',
  'progress.relaxed': 'faixa relax',
  queued: 'Na fila, n.º {position}{eta}, trabalho {id}. /cancel o interrompe.',
  'queued.eta': ', cerca de {eta}',
  'result.caption': '{prompt}\nsemente {seed} · {style} · {seconds} s',
  'result.saved': 'Salvo: {paths}',
  'result.failed': 'Não foi possível criar sua imagem: {reason} Sua cota não foi cobrada.',
  'result.cancelled': 'O trabalho {id} foi cancelado; sua cota não foi cobrada.',
  'result.cancel_too_late':
    'O trabalho {id} já tinha terminado quando o cancelamento chegou: entregue e cobrado.',
  'error.no_face': 'nenhum rosto foi encontrado na foto. Envie uma foto nítida e de frente de um só rosto.',
  'error.out_of_memory': 'a GPU ficou sem memória. Tente menos imagens ou um tamanho menor.',
  'error.missing_model': 'falta no servidor GPU um modelo de que este estilo precisa. Tente outro estilo.',
  'error.missing_node': 'falta no servidor GPU um nó de que este estilo precisa. Tente outro estilo.',
  'error.model_unloadable':
    'este estilo está mal configurado no servidor (um modelo de que ele precisa não pode ser carregado). Tente outro estilo; um operador foi avisado.',
  'error.style_unavailable': 'nenhum servidor GPU pode usar este estilo agora. Tente outro (/styles).',
  'refuse.style_unavailable':
    'Nenhum servidor GPU pode usar o estilo "{style}" agora. Tente outro estilo (/styles).',
  'error.backend_unavailable': 'os servidores GPU não respondem. Tente de novo em alguns minutos.',
  'error.timeout': 'demorou demais.',
  'error.queued_timeout': 'a fila estava longa demais e o trabalho esperou demais. Tente mais tarde.',
  'error.reference_missing': 'a foto deste trabalho expirou. Envie-a de novo.',
  'error.image_prompt_unsupported':
    'este estilo não pode mais partir de uma imagem. Envie a imagem de novo com outro estilo (/styles).',
  'error.blob_cap': 'o bot está guardando imagens demais agora. Tente em alguns minutos.',
  'error.generic': 'o servidor GPU falhou ao desenhar.',
  'refuse.banned': 'Você está proibido de criar imagens aqui{until}.{reason}',
  'refuse.banned.until': ' até {until}',
  'refuse.daily_limit':
    'Não restam imagens para você hoje (cota diária: {allowed}). Sua cota renova em {resetIn}.',
  'refuse.too_many_active':
    'Trabalhos em andamento: {active} de {max} permitidos ao mesmo tempo. Espere um terminar ou use /cancel.',
  'refuse.burst': 'Mais devagar: tente de novo em {retryIn}.',
  'refuse.budget_exhausted': 'O orçamento de imagens de hoje acabou. Renova em {resetIn}.',
  'refuse.scope_not_allowed': 'Este bot não está habilitado neste servidor ou grupo.',
  'refuse.queue_full': 'A fila está cheia ({waiting} esperando). Tente em alguns minutos.',
  'refuse.prompt_blocked': 'Este texto não é permitido aqui.',
  'refuse.style_not_allowed': 'O estilo "{style}" não está habilitado aqui. Permitidos: {styles}.',
  'refuse.unknown_style': 'Não existe o estilo "{style}". Disponíveis: {styles}.',
  'refuse.invalid_params': '{message}',
  'refuse.photo_required': 'Anexe uma foto de um rosto (ou responda a uma) com /portrait.',
  'refuse.photo_from_others':
    'Aqui só é possível fazer retratos com suas próprias fotos: envie a sua própria foto com /portrait. Um moderador pode permitir as de outros com /limits settings portraits_from_others=on.',
  'refuse.photo': 'Essa foto não pode ser usada: {message}',
  'photo.too_large':
    'A imagem passa do limite de {mb} MB. Envie uma versão menor ou comprimida (como foto, não como arquivo).',
  'photo.too_many_pixels':
    'A imagem tem pixels demais; o limite é {mp} megapixels. Reduza-a e envie de novo.',
  'photo.corrupt_image':
    'O arquivo {format} está danificado ou incompleto (o download ou o envio foi interrompido?). Envie a imagem de novo.',
  'photo.not_an_image':
    'O arquivo não é uma imagem que eu consiga ler. Envie uma foto (JPEG, PNG, WebP ou GIF).',
  'photo.empty': 'O arquivo está vazio. Envie a imagem de novo.',
  'photo.svg': 'O arquivo é um desenho SVG, que não é aceito. Envie uma foto (JPEG, PNG ou WebP).',
  'photo.heic':
    'Não consigo ler fotos HEIC. Envie como JPEG (no iPhone: Ajustes › Câmera › Formatos › Mais compatível).',
  'photo.unsupported_format':
    'O arquivo é {format}, um formato que não é aceito. Envie uma foto JPEG, PNG ou WebP.',
  'refuse.album': 'Você enviou várias fotos: usei a primeira.',
  'refuse.not_yours': 'Só quem pediu (ou um moderador) pode usar estes botões.',
  'refuse.expired': 'Este resultado expirou; os botões valem por {days} dias. Comece um novo /imagine.',
  'refuse.no_previous': 'Você ainda não tem nenhuma imagem aqui. Comece com /imagine.',
  'refuse.not_moderator': 'Só moderadores podem fazer isso.',
  'refuse.above_ceiling': 'Isso passa do limite que o operador permite ({field} no máximo {max}).',
  'refuse.invalid': 'Essa mudança não é válida: {reason}',
  'refuse.store_full': 'O bot está guardando imagens demais agora. Tente em alguns minutos.',
  'refuse.unavailable':
    'A geração de imagens não está disponível: nenhum servidor GPU responde. Tente mais tarde.',
  'refuse.photo_not_image': 'Esse arquivo não é uma imagem. Anexe uma foto JPEG, PNG ou WebP.',
  'refuse.photo_fetch_failed': 'Não foi possível obter sua imagem. Envie-a de novo; nada foi cobrado.',
  'refuse.image_prompt_style':
    'O estilo "{style}" não pode partir de uma imagem. Estilos que podem: {styles}. Escolha um deles como estilo, ou envie o prompt sem a imagem.',
  'refuse.image_prompt_none':
    'O estilo "{style}" não pode partir de uma imagem, e nenhum estilo permitido aqui pode. Envie o prompt sem a imagem.',
  'refuse.strength_needs_picture':
    '{flag} define quanto o resultado segue uma imagem, então precisa de uma: anexe uma imagem ao /imagine (ou responda a uma com ele), ou tire {flag}.',
  'refuse.picture_from_others':
    'Aqui só é possível partir das suas próprias imagens: envie a sua própria imagem com /imagine. Um moderador pode permitir as de outros com /limits settings portraits_from_others=on.',
  'refuse.unknown_button': 'Este botão não funciona mais. Comece um novo /imagine.',
  'refuse.internal': 'Algo deu errado do nosso lado. Tente de novo em instantes.',
  'discord.missing_permissions':
    'Atenção: me falta {permissions} neste canal. Posso responder aqui por 15 minutos; um trabalho que demore mais chegará a você por mensagem direta. Um moderador pode concedê-las para resolver.',
  'permission.view_channel': 'Ver canal',
  'permission.send_messages': 'Enviar mensagens',
  'permission.send_messages_in_threads': 'Enviar mensagens em tópicos',
  'permission.attach_files': 'Anexar arquivos',
  'permission.embed_links': 'Inserir links',
  'parse.empty': 'Digite um comando, por exemplo /imagine uma raposa na neve. /help mostra todos.',
  'parse.no_slash':
    'Os comandos começam com uma barra: /imagine … cria uma imagem, por exemplo /imagine uma raposa na neve. /help mostra todos.',
  'parse.unknown_command': 'Não conheço o comando {command}.{hint} Comandos: {commands}.',
  'parse.did_you_mean': ' Você quis dizer /{command}?',
  'parse.other_bot': '/{command}@{bot} é para outro bot (@{bot}).',
  'parse.requeue_id':
    '/requeue recebe o id de um trabalho com falha, como /failed o mostra: por exemplo /requeue console-abc-1.',
  'parse.no_arguments': '/{command} não recebe mais nada; envie só /{command}.',
  'parse.image_number': '/{command} recebe o número da imagem, de 1 a {max}: por exemplo /{command} 2.',
  'parse.message_too_long': 'A mensagem tem {length} caracteres; um texto pode ter {max}. Encurte-a.',
  'parse.flag_twice': '{flag} aparece duas vezes; deixe só um ({example}).',
  'parse.empty_prompt.imagine': 'Diga o que desenhar: /imagine uma raposa na neve --ar 16:9.',
  'parse.empty_prompt.portrait': 'Diga o que o retrato mostra: /portrait cavaleiro sorrindo de armadura.',
  'parse.prompt_too_long': 'O texto tem {length} caracteres; o limite é {max}. Encurte-o.',
  'parse.unknown_flag':
    'Não conheço a opção {flag}. Opções de /{command}: {flags}. Para escrever "--" no texto, coloque um espaço depois.',
  'parse.portrait_only': '{flag} só funciona com /portrait.',
  'parse.flag_takes_no_value': '{flag} não recebe valor: escreva só {example}.',
  'parse.flag_needs_value': '{flag} precisa de um valor, por exemplo {example}.',
  'parse.flag_unclosed_quote': '{flag}: feche as aspas que você abriu ({quote}).',
  'parse.flag_one_of': '{flag} deve ser um de {values}; você escreveu "{raw}".',
  'parse.flag_whole': '{flag} deve ser um número inteiro de {min} a {max}; você escreveu "{raw}".',
  'parse.flag_style':
    '{flag} recebe o nome de um estilo, como flux ou sdxl (/styles mostra todos); você escreveu "{raw}".',
  'parse.flag_strength': '{flag} deve ser um número de 0 a {max}, como 0,8; você escreveu "{raw}".',
  'parse.flag_image_strength':
    '{flag} deve ser um número de {min} a {max}, como 0,4 (mais alto mantém mais da imagem); você escreveu "{raw}".',
  'parse.negative_too_long': 'O texto de {flag} tem {length} caracteres; o limite é {max}. Encurte-o.',
  'parse.unclosed_quote': 'Feche as aspas que você abriu ({quote}).',
  'parse.settings_reset_alone': '/settings reset vai sozinho: esquece todos os seus padrões salvos.',
  'parse.not_key_value':
    '"{word}" não está na forma chave=valor. Use {keys}; coloque entre aspas um valor com espaços.',
  'parse.unknown_setting': 'Não conheço a configuração "{key}". Configurações: {keys}.',
  'parse.given_twice': '{key} aparece duas vezes; deixe só um.',
  'parse.setting_style': 'style recebe o nome de um estilo, como flux ou sdxl (/styles mostra todos).',
  'parse.one_of': '{key} deve ser um de {values}.',
  'parse.setting_too_long': '{key} tem {length} caracteres; o limite é {max}.',
  'parse.on_off': '{key} deve ser on ou off.',
  'parse.limits_missing_op': '/limits precisa de um subcomando: {ops}.',
  'parse.limits_unknown_op': 'Não conheço o subcomando "{op}" de /limits. Use um destes: {ops}.',
  'parse.usage': 'Uso: {example}.',
  'parse.usage_ban': 'Uso: {example} (sem duração, o banimento vale até /limits unban).',
  'parse.whose_limits': 'Diga de quem são os limites. {usage}',
  'parse.only_user': 'Aqui vai só um usuário. {usage}',
  'parse.grant_amount': 'A quantidade é um número inteiro de 1 a {max}. {usage}',
  'parse.which_role': 'Diga qual cargo. {usage}',
  'parse.list_count': 'A quantidade é um número inteiro de 1 a {max}. {usage}',
  'parse.unknown_user':
    'Não sei quem é {who}: informe o id numérico do usuário (@123), uma menção ou @me para você. {usage}',
  'parse.not_user': '"{who}" não é um usuário. {usage}',
  'parse.not_role': '"{who}" não é um id de cargo. {usage}',
  'parse.which_limits': 'Diga quais limites definir. {usage}',
  'parse.clear_alone': 'clear vai sozinho: remove todos os valores próprios. {usage}',
  'parse.not_limit': '"{word}" não é nenhum de daily=, active=, burst=, priority=. {usage}',
  'parse.limit_range': '{key} deve ser um número inteiro de {min} a {max}.',
  'parse.who_to_ban': 'Diga quem banir. {usage}',
  'parse.ban_too_short': 'Um banimento dura pelo menos 1 minuto (1m). {usage}',
  'parse.ban_too_long': 'Um banimento dura no máximo 3650 dias; sem duração, vale até ser desfeito. {usage}',
  'parse.reason_too_long': 'O motivo aceita no máximo {max} caracteres. {usage}',
  'parse.not_scope_setting': '"{word}" não é uma configuração daqui. Use {keys}.',
  'parse.block_op': 'Adicione ou remova palavras bloqueadas com block+= e block-=. {usage}',
  'parse.block_needs_word': '{key}{op} precisa de uma palavra. {usage}',
  'parse.takes_equals': '{key} se escreve {key}=valor. {usage}',
  'parse.styles_list':
    'styles recebe nomes de estilos separados por vírgulas, como styles=sdxl,flux, ou styles=all para todos.',
  'parse.cancel_argument':
    '/cancel vai sozinho (seu trabalho mais recente), com all ou com o id de um trabalho como /quota mostra: /cancel, /cancel all, /cancel <id>.',
  'parse.default_style': 'default_style recebe o nome de um estilo, como sdxl.',
  'parse.invalid': 'Comando inválido: {detail}.',
  'refuse.daily_short':
    'Imagens que restam hoje: {left}; este pedido precisa de {needed}. Peça menos (--count) ou espere {resetIn} até a cota renovar.',
  'refuse.image_range':
    'Esse resultado tem {count} imagens: escolha uma de 1 a {count}, por exemplo /{command} {count}.',
  'refuse.image_range_one': 'Esse resultado tem uma só imagem: use /{command} 1.',
  'refuse.not_ready': 'Seu último trabalho ainda não tem imagens: espere terminar e tente de novo.',
  'refuse.no_images':
    'Seu último trabalho não gerou imagens (falhou ou foi cancelado). Comece um novo /imagine.',
  'refuse.style_cannot':
    'O estilo "{style}" não aceita {what}. Estilos que aceitam: {styles}. Adicione --style com um deles ou tire {what}.',
  'refuse.option_unsupported':
    '{what} não funciona com o estilo "{style}" ({detail}). Mude ou tire essa opção.',
  'refuse.option_range': '{what} está fora do que o estilo "{style}" aceita: use de {min} a {max}.',
  'notice.negative_dropped': 'O estilo "{style}" não usa prompt negativo: o seu foi deixado de fora.',
  'notice.count_dropped': 'Uma imagem é redesenhada uma de cada vez: {what} foi deixado de fora.',
  'notice.image_prompt': 'Partindo da sua imagem ({width}×{height}, força {strength}).',
  'console.photo_missing':
    'O arquivo {path} não existe. Informe o caminho de uma foto de um rosto: /portrait ./eu.jpg cavaleiro sorrindo.',
  'console.photo_unreadable':
    'Não consigo ler {path} ({reason}). Informe o caminho de uma foto JPEG, PNG ou WebP.',
  'console.photo_not_file':
    '{path} é uma pasta, não uma foto. Informe o caminho de uma foto JPEG, PNG ou WebP.',
  'console.photo_not_regular':
    '{path} não é um arquivo (é um dispositivo ou um pipe). Informe o caminho de uma foto JPEG, PNG ou WebP.',
  'console.picture_missing':
    'O arquivo {path} não existe. Informe o caminho de uma imagem: /imagine ./foto.png um castelo ao entardecer.',
  'console.describe_missing':
    'O arquivo {path} não existe. Informe o caminho de uma imagem: /describe ./foto.png.',
  'console.describe_needs_path':
    'Escreva o caminho de uma imagem depois de /describe e eu sugiro prompts para ela: /describe ./foto.png.',
  'console.portrait_needs_path':
    'Escreva o caminho de uma foto de um rosto depois de /portrait: /portrait ./eu.jpg cavaleiro sorrindo.',
  'console.ready':
    'Chat do console pronto. Experimente: /imagine uma raposa vermelha na neve --ar 16:9   (/help mostra todos os comandos)',
  'console.result': '  semente {seed} · {style} · {seconds} s',
  'help.console':
    'Crie imagens:\n/imagine uma raposa vermelha na neve --ar 16:9 --seed 42 --no pessoas --style flux --count 4\n  opções: --ar 16:9 · --seed 42 · --steps 30 · --count 1–4 · --no o que evitar · --style nome (/styles) · --lora nome:0.8 (/loras) · --png\n/imagine ./foto.png um castelo ao entardecer --iw 0.6   (partir de uma imagem: --iw 0.1–0.9, padrão 0.4)\n/portrait ./eu.jpg cavaleiro sorrindo --strength 0.8   (o caminho de uma foto de um só rosto)\nSobre o seu último resultado: /reroll (outra semente) · /variation 2 · /upscale 1 (o número da imagem)\n/describe ./imagem.png   (até quatro prompts que descrevem a imagem)\n/cancel · /cancel <id> · /cancel all · /quota · /fast · /relax · /styles · /loras · /settings · /forget',
  'help.discord':
    'Crie imagens:\n/imagine prompt: uma raposa vermelha na neve, com as opções aspect, seed, steps, count (1–4), negative, style, lora e png\n/imagine com a opção image parte dessa imagem (strength 0,1–0,9: quanto segue ela)\n/portrait com a foto de um só rosto e um texto (strength 0–1.5), ou sobre uma foto: Apps → Retrato com esta foto\nEmbaixo de cada resultado: botões Refazer, Variar, Ampliar e Apagar.\n/describe com uma imagem: até quatro prompts para ela, cada um com um botão Imaginar isto\n/cancel · /quota · /fast · /relax · /styles · /loras · /settings · /forget',
  'portrait.default_prompt': 'um retrato fotográfico',
  'command.portrait_menu': 'Retrato com esta foto',
  'cancel.none': 'Não há nada para cancelar: você não tem trabalho na fila nem em andamento aqui.',
  'cancel.waiting': 'Cancelei o trabalho {id} (estava na fila); sua cota não foi cobrada.',
  'cancel.running':
    'Parando o trabalho {id} (estava em andamento). Vou avisar aqui como termina: se as imagens já estiverem prontas, são entregues e cobradas.',
  'cancel.stopping': 'O trabalho {id} já está sendo parado; vou avisar aqui como termina.',
  'cancel.finished': 'O trabalho {id} já tinha terminado; nada foi cancelado.',
  'cancel.unknown': 'Você não tem trabalho {id} na fila nem em andamento aqui. {jobs}',
  'cancel.others': 'Você ainda tem: {jobs}. /cancel all para todos; /cancel <id> para um.',
  'cancel.all_waiting': 'Cancelados (estavam na fila; sem cobrança): {ids}.',
  'cancel.all_running': 'Parando (estavam em andamento; vou avisar aqui como cada um termina): {ids}.',
  'cancel.all_finished': 'Já terminados, nada cancelado: {ids}.',
  'cancel.your_jobs': 'Seus trabalhos aqui: {jobs}.',
  'cancel.no_jobs': 'Você não tem trabalho na fila nem em andamento aqui.',
  'job.running': '{id} (em andamento)',
  'job.waiting': '{id} (na fila)',
  'job.stopping': '{id} (parando)',
  'quota.jobs': 'Seus trabalhos: {jobs}. /cancel <id> para um.',
  'command.cancel.job': 'all, ou um id de trabalho do /quota (vazio: seu trabalho mais recente)',
  'refuse.settings.unknown_style':
    'Não existe o estilo "{style}". Estilos conhecidos: {styles}. styles=all permite todos os estilos.',
  'refuse.scope_styles_unknown':
    'Os estilos permitidos aqui ({styles}) não existem neste bot. Um moderador pode corrigir com /limits settings styles=all.',
  'refuse.settings.all_alone':
    'styles={value} permite todos os estilos e vai sozinho: envie styles=all ou liste os estilos (styles=sdxl,flux).',
  'refuse.settings.styles_none':
    'styles={value} deixaria os membros sem nenhum estilo. Liste os estilos permitidos (styles=sdxl,flux) ou envie styles=all para todos.',
  'refuse.settings.photo_only':
    'Com apenas {styles} permitidos, ninguém conseguiria usar /imagine: esses estilos precisam de uma foto. Adicione um estilo que desenhe a partir de texto: {suggest}.',
  'refuse.settings.default_not_allowed':
    'O estilo padrão {style} não está entre os permitidos ({styles}): adicione-o a styles= ou mude default_style= (default_style=clear usa o padrão do bot).',
  'refuse.settings.default_photo':
    'default_style={style} precisa de uma foto, então um /imagine simples seria sempre recusado. Escolha um estilo que desenhe a partir de texto: {styles}.',
  'refuse.settings.block_missing': '"{word}" não está na lista de bloqueio daqui. Bloqueado agora: {words}.',
  'refuse.settings.block_everything':
    'O padrão {pattern} bloquearia qualquer prompt. Bloqueie palavras ou um padrão mais específico.',
  'refuse.settings.bad_pattern':
    'O padrão {pattern} não é uma expressão regular válida: confira os colchetes e escapes.',
  'limits.saved_zero_daily':
    'Salvo. Atenção: com daily=0, os membros daqui não podem criar imagens (exceto por um nível de cargo ou exceção que permita mais). /limits default clear desfaz isso.',
  'refuse.target_local':
    '@local designa o usuário do console. Aqui, use @me para você ou um id numérico de usuário (@123).',
  'failed.requeued': ' · reenfileirado como {id}',
  'delete.done': 'Apagado.',
  'forget.done':
    'Pronto: apaguei {records} trabalhos salvos, {photos} fotos, suas configurações e seu registro de uso.',
  'settings.saved': 'Configurações salvas.',
  'settings.show':
    'Suas configurações: estilo {style}, formato {aspect}, negativo "{negative}", idioma {language}, prévias {previews}.\nMude com /settings style=flux ar=16:9 negative="borrado" lang=pt previews=off, ou /settings reset.',
  'quota.view':
    'Hoje: {used} de {allowed} imagens usadas{here}{credits}. Em andamento: {active} de {maxActive}. Renova em {resetIn}.',
  'quota.credits': ', {credits} créditos extras',
  'quota.here': ' (neste chat: {used} de {allowed})',
  'quota.relax':
    '\nFaixa relax: {used} de {cap} imagens hoje, sem gastar cota. Seus próximos trabalhos: {lane} (/fast, /relax).',
  'quota.relax_off': '\nSeus próximos trabalhos: {lane}.',
  'word.lane_fast': 'rápida',
  'word.lane_relax': 'relax',
  'lane.fast':
    'Seus próximos trabalhos vão pela faixa rápida: começam na vez deles e gastam sua cota diária.',
  'lane.relax':
    'Seus próximos trabalhos vão pela faixa relax: não gastam cota e começam quando nenhum trabalho rápido espera (até {cap} por dia). /fast volta para a rápida.',
  'refuse.relax_off': 'A faixa relax está desativada neste bot: seus trabalhos vão pela faixa rápida.',
  'refuse.relax_off_here':
    'A faixa relax está desativada aqui. Um moderador pode permiti-la com /limits settings relax=on; /fast usa a faixa rápida.',
  'refuse.relax_limit':
    'Você já começou suas {cap} imagens relax de hoje. Elas voltam em {resetIn}; /fast usa sua cota diária.',
  'refuse.relax_hint':
    '/relax deixa você continuar desenhando sem cota: trabalhos relax começam quando nenhum trabalho rápido espera.',
  'queued.relaxed': ' (relax: começa quando nenhum trabalho rápido espera)',
  'limits.everywhere': ' aqui ({used} em todos os chats)',
  'styles.header': 'Estilos disponíveis:',
  'styles.line': '• {name}: {label}{weight}',
  'styles.weight': ' ({units} unidades por imagem)',
  help: 'Crie imagens:\n/imagine uma raposa vermelha na neve --ar 16:9 --seed 42 --no pessoas --style flux --count 4\n  opções: --ar 16:9 · --seed 42 · --steps 30 · --count 1–4 · --no o que evitar · --style nome (/styles) · --lora nome:0.8 (/loras) · --png (um arquivo sem perda)\n/imagine um castelo ao entardecer --iw 0.6 como legenda de uma imagem (ou em resposta a uma) parte dela (--iw 0.1–0.9, padrão 0.4)\n/portrait cavaleiro sorrindo --strength 0.8 como legenda da foto de um só rosto (ou em resposta a uma)\nEmbaixo de cada resultado: botões Refazer, Variar, Ampliar e Apagar; /reroll, /variation 2 e /upscale 1 também funcionam.\n/describe como legenda de uma imagem (ou respondendo a uma): até quatro prompts para ela, cada um com um botão Imaginar isto\n/cancel · /quota · /fast · /relax · /styles · /loras · /settings · /forget',
  'help.mod':
    'Moderadores: /limits show|set|grant|reset|ban|unban|default|role|settings|top|audit, /stats [today|7d|30d], /failed, /requeue <id>',
  'limits.user':
    'Usuário {user}: {used} de {allowed} hoje{everywhere}, créditos {credits}, em andamento {active}/{maxActive}, prioridade {priority}{ban}.',
  'limits.ban': ', banido{until}',
  'limits.ban_reason': ', banido{until}: {reason}',
  'limits.saved': 'Salvo.',
  'limits.granted': 'Concedido. {user} agora tem {credits} créditos extras.',
  'limits.reset': 'Zerei o uso de hoje de {user}.',
  'limits.banned': 'Bani {user}{until}.',
  'limits.unbanned': 'Desbani {user}.',
  'limits.settings':
    'Configurações aqui: palavras bloqueadas {blocklist}; estilos {styles}; estilo padrão {defaultStyle}; prévias {previews}; retratos com fotos de outros {others}; LoRAs {loras}; faixa relax {relax}.',
  'limits.top': 'Mais imagens hoje:\n{lines}',
  'limits.audit': 'Ações recentes de moderação:\n{lines}',
  'limits.empty': '(nenhum)',
  stats: 'Últimas execuções por estilo e servidor:\n{lines}',
  'stats.costs':
    'Esta comunidade, {period}: {jobs} trabalhos, {images} imagens, {minutes} minutos de GPU, {cost}.\nQuem mais gasta:\n{members}',
  'stats.member': '{rank}. {user}: {jobs} trabalhos, {minutes} min de GPU, {cost}',
  'stats.no_members': 'ninguém ainda',
  'stats.today': 'hoje',
  'stats.days': 'últimos {days} dias',
  'refuse.bad_period':
    'Período desconhecido "{period}": escreva /stats today, /stats 7d ou /stats 30d (no máximo {max}d).',
  'parse.stats_period': '/stats recebe um só período: today, 7d ou 30d (por exemplo /stats 7d).',
  'word.on': 'sim',
  'word.off': 'não',
  'word.none': 'nenhum',
  // LoRAs (--lora, /loras, /limits settings loras=).
  'refuse.loras_none': 'Este bot não oferece LoRAs para escolher: tire o --lora.',
  'refuse.loras_off_here':
    'Os LoRAs estão desativados aqui (um moderador escolheu loras=none): tire o --lora.',
  'refuse.lora_unknown': 'Não existe o LoRA "{lora}". LoRAs que você pode usar aqui: {loras} (/loras).',
  'refuse.lora_not_allowed':
    'O LoRA "{lora}" não está habilitado aqui. LoRAs que você pode usar aqui: {loras}.',
  'refuse.lora_style':
    'O estilo "{style}" não aceita LoRAs. Estilos que aceitam: {styles}. Adicione --style com um deles, ou tire o --lora.',
  'refuse.lora_too_many':
    'O estilo "{style}" aceita no máximo {max} dos seus LoRAs; você deu {count}. Fique com no máximo {max} de: {loras}.',
  'refuse.lora_twice': 'O LoRA "{lora}" aparece duas vezes: indique cada LoRA uma vez só.',
  'refuse.lora_unsuited':
    'O LoRA "{lora}" é feito para {suits}, não para o estilo "{style}". LoRAs para {style}: {loras}.',
  'refuse.lora_strength':
    'A força de "{lora}" deve ir de {min} a {max} (você deu {strength}). Tente --lora {lora}:{default}.',
  'refuse.lora_unavailable':
    'Nenhum servidor GPU tem agora o LoRA "{lora}". LoRAs que você pode usar agora: {loras}.',
  'error.lora_unavailable':
    'nenhum servidor GPU que roda este estilo tem todos os LoRAs que você escolheu. /loras mostra os disponíveis agora.',
  'parse.flag_lora':
    '{flag} leva o nome de um LoRA com uma força opcional, como --lora detail ou --lora detail:0.8 (/loras mostra os nomes); você deu "{raw}".',
  'parse.lora_too_many': 'No máximo {max} LoRAs por pedido.',
  'parse.loras_list':
    'loras leva nomes de LoRAs separados por vírgulas, como loras=detail,anime, ou loras=all para todos os que o bot oferece, ou loras=none.',
  'refuse.settings.unknown_lora':
    'Não existe o LoRA "{lora}". LoRAs que o bot oferece: {loras}. loras=all permite todos, loras=none desativa.',
  'refuse.settings.loras_alone':
    'loras={value} vai sozinho: envie loras={value}, ou liste os LoRAs (loras=detail,anime).',
  'refuse.settings.loras_unusable':
    'Nenhum de {loras} serve para um estilo que os membros possam usar aqui ({styles}), então ninguém poderia escolhê-los. LoRAs que servem: {suggest}.',
  'loras.header': 'LoRAs que você pode adicionar com --lora nome ou --lora nome:força:',
  'loras.line': '• {name}: força de {min} a {max} (padrão {default}){trigger}{suits}',
  'loras.trigger': ', adiciona "{trigger}"',
  'loras.suits': ', para {suits}',
  'loras.absent': 'Permitidos aqui mas em nenhum servidor GPU agora: {loras}.',
  'loras.none_present': 'Nenhum LoRA permitido aqui está agora em um servidor GPU.',
  'loras.none': 'Este bot não oferece LoRAs para escolher.',
  'loras.off_here':
    'Os LoRAs estão desativados aqui. Um moderador pode permiti-los com /limits settings loras=all.',
  'command.loras': 'Lista os LoRAs que você pode adicionar ao /imagine',
  'option.lora': 'LoRAs a adicionar: nome ou nome:força, separados por vírgulas (/loras mostra)',
  'option.allowed_loras': 'LoRAs permitidos aqui: nomes separados por vírgulas, all ou none',
  'word.default': 'padrão',
  'word.all': 'todos',
  'refuse.channel': 'Aqui não é possível publicar como canal: envie o comando pela sua própria conta.',
  'command.imagine': 'Crie uma imagem a partir de um texto',
  'command.portrait': 'Um retrato a partir da foto de um rosto',
  'command.reroll': 'O último texto de novo, outra semente',
  'command.variation': 'Uma variação da sua última imagem',
  'command.upscale': 'Amplie sua última imagem',
  'command.settings': 'Seus padrões: estilo, formato, idioma',
  'command.quota': 'Imagens que restam hoje',
  'command.fast': 'Próximos trabalhos na faixa rápida (gasta cota)',
  'command.relax': 'Próximos trabalhos na faixa relax (sem cota, depois dos rápidos)',
  'command.cancel': 'Pare seu trabalho mais recente (ou todos, ou um pelo id)',
  'command.styles': 'Estilos disponíveis',
  'command.forget': 'Apague seus trabalhos salvos e configurações',
  'command.help': 'Como usar o bot',
  'command.limits': 'Moderadores: limites e configurações aqui',
  'command.stats': 'Moderadores: trabalhos, tempo de GPU e custo desta comunidade, e últimas execuções',
  'command.stats.period': 'today (padrão), 7d, 30d…',
  'option.prompt': 'O que desenhar',
  'option.negative': 'O que evitar',
  'option.aspect': 'Formato da imagem',
  'option.style': 'Estilo (modelo e predefinição)',
  'option.seed': 'Semente, para repetir um resultado',
  'option.steps': 'Passos de amostragem',
  'option.count': 'Quantas imagens (1–4)',
  'option.png': 'Enviar um arquivo PNG sem perda',
  'option.photo': 'Uma foto nítida de um só rosto',
  'option.portrait_prompt': 'O que o retrato mostra',
  'option.strength': 'Quanto o rosto segue a foto (0–1,5)',
  'option.image': 'Uma imagem de onde partir (prompt de imagem)',
  'option.image_strength': 'Quanto o resultado segue a imagem (0,1–0,9; padrão 0,4)',
  'option.default_style': 'Estilo padrão',
  'option.default_aspect': 'Formato padrão',
  'option.default_negative': 'Prompt negativo padrão',
  'option.language': 'Idioma do bot',
  'option.previews': 'Mostrar prévias enquanto desenha',
  'option.reset': 'Esquecer todos os padrões salvos',
  'option.requeue_job': 'Id do trabalho, como /failed mostra',
  'option.limits_show': 'Uso e limites de um membro',
  'option.member': 'Membro',
  'option.limits_set': 'Definir limites próprios para um membro',
  'option.limits_grant': 'Dar imagens extras',
  'option.amount': 'Imagens',
  'option.limits_reset': 'Zerar o uso de hoje de um membro',
  'option.limits_ban': 'Impedir um membro de criar imagens',
  'option.ban_minutes': 'Por quanto tempo (vazio = até desbanir)',
  'option.reason': 'Motivo',
  'option.limits_unban': 'Desfazer um banimento',
  'option.limits_default': 'Limites padrão deste servidor',
  'option.limits_role': 'Limites de um cargo',
  'option.role': 'Cargo',
  'option.limits_settings': 'Ver ou mudar as configurações deste servidor',
  'option.block_add': 'Palavras a bloquear (separadas por vírgulas)',
  'option.block_remove': 'Palavras a desbloquear (separadas por vírgulas)',
  'option.allowed_styles': 'Estilos permitidos (separados por vírgulas), ou all para todos',
  'option.scope_previews': 'Prévias enquanto desenha',
  'option.others_photos': 'Retratos com fotos de outros membros',
  'option.limits_top': 'Quem fez mais imagens hoje',
  'option.list_count': 'Quantos',
  'option.limits_audit': 'Ações recentes de moderação',
  'option.daily': 'Imagens por dia',
  'option.active': 'Trabalhos ao mesmo tempo',
  'option.burst': 'Comandos por minuto (0 = sem limite)',
  'option.priority': 'Prioridade na fila',
  'option.clear': 'Remover estes valores próprios',
  'failed.list':
    'Trabalhos com falha nas últimas 24 h: {count} (os {shown} mais recentes abaixo)\n{lines}\nPara repetir um para o usuário: /requeue <id>',
  'failed.line': '{time} {id} · {code}: {message} · {style} · {user} · {backend}{requeued}',
  'failed.none': 'Nenhum trabalho falhou aqui nas últimas 24 h.',
  'requeue.done':
    '{id} foi reenfileirado como um novo trabalho para {user}. Conta uma vez na cota (a tentativa com falha foi devolvida).',
  'requeue.unknown': 'Nenhum trabalho com falha {id} aqui nas últimas 24 h. /failed lista todos.',
  'requeue.already': 'O trabalho {id} já foi reenfileirado como {newId}.',
  'requeue.expired': 'O pedido ou a foto do trabalho {id} expirou: peça ao usuário para enviar de novo.',
  'command.failed': 'Moderadores: trabalhos com falha do último dia',
  'command.requeue': 'Moderadores: repetir um trabalho com falha',
  'button.reroll': 'Refazer',
  'button.variation': 'Variar {n}',
  'button.upscale': 'Ampliar {n}',
  'button.cancel': 'Cancelar',
  'button.delete': 'Apagar',
  'button.imagine_this': 'Imaginar isto {n}',
  'describe.result':
    'Prompts que descrevem sua imagem:\n{lines}\nToque em "Imaginar isto" para criar uma imagem com um deles.',
  'describe.result_console':
    'Prompts que descrevem sua imagem:\n{lines}\nCrie uma: /imagine seguido do texto.',
  'describe.failed': 'Não consegui descrever sua imagem: {reason} Sua cota não foi cobrada.',
  'error.no_text':
    'o fluxo de descrição não devolveu texto. Um operador deve verificar seus nós de saída e o textKey (README, Workflows and styles).',
  'refuse.describe_photo_required':
    'Envie /describe com uma imagem: anexe uma (ou responda a uma) com /describe e eu sugiro prompts para ela.',
  'refuse.describe_unavailable':
    'Nenhum servidor GPU consegue descrever imagens agora. Um operador deve instalar {needs} em um servidor ComfyUI (npm run doctor diz o que falta).',
  'refuse.description_gone':
    'Essa descrição não está mais disponível (o trabalho expirou ou falhou). Envie a imagem com /describe de novo.',
  'refuse.describe_from_others':
    'Aqui só suas próprias imagens podem ser descritas. Um moderador pode permitir com /limits settings portraits_from_others=on.',
  'command.describe': 'Prompts que descrevem uma imagem',
  'option.describe_picture': 'A imagem a descrever',
};

const TABLES: Readonly<Record<Language, Table>> = { en, es, pt };

/** `{name}` placeholders are filled from params; a missing param stays visible rather than vanishing. */
export function t(lang: Language, key: MessageKey, params: Params = {}): string {
  const template = TABLES[lang][key];
  return template.replace(/\{(\w+)\}/g, (m, name: string) => {
    const v = params[name];
    if (v === undefined) return m;
    return typeof v === 'object' ? t(lang, v.key, v.params) : String(v);
  });
}

/** A parser error (or any code + params value) in the reader's language. */
export function render(lang: Language, ref: MessageRef): string {
  return t(lang, ref.key, ref.params);
}

/** The one way a moment is shown to users: `2026-12-11 18:09 UTC`. */
export function formatTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** A platform locale (`pt-BR`, `es-419`, `en-US`) → one of our languages; English otherwise. */
export function languageOf(locale: string | undefined): Language {
  const base = (locale ?? '').toLowerCase().split(/[-_]/)[0];
  return base === 'es' || base === 'pt' ? base : 'en';
}

/** `42 s`, `3 min`, `2 h 5 min`: short, for ETAs and reset times. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  const rest = m % 60;
  return rest === 0 ? `${h} h` : `${h} h ${rest} min`;
}

export function allTables(): Readonly<Record<Language, Table>> {
  return TABLES;
}
