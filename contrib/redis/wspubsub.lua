#!lua name=wspubsub
--
-- wspubsub.lua -- message history for wspubsub, as a Redis 7 Functions
-- library.  wspubsub loads it into Redis itself (FUNCTION LOAD REPLACE);
-- to load it by hand:
--
--   redis-cli -x FUNCTION LOAD REPLACE < contrib/redis/wspubsub.lua
--
-- FCALL wspubsub_publish 1 <channel> <payload> [<history_size> [<history_ttl>]]
--   Appends the payload to the channel's history, a stream capped at
--   history_size entries (default 100) that expires history_ttl seconds
--   (default 300) after the last publish, and publishes it to the
--   channel's subscribers, in one atomic step.  Returns the message's id.
--
-- FCALL_RO wspubsub_since 1 <channel> <id> <max>
--   What wspubsub asks when a client resumes after <id>: a status
--   ("recovered" when every message published after <id> is still held,
--   "gap" when some are not, "none" when <id> is empty), the newest id
--   held ("" if none), then at most <max> (id, payload) pairs after <id>,
--   oldest first.  <id> "0-0" means before any history: wspubsub saw none.
--
-- FCALL_RO wspubsub_version 0
--   This library's version; wspubsub replaces an older one.
--
-- Names.  The stream and the channel that carries history messages to
-- wspubsub share one name, "<channel>#history" when the channel has a
-- hash tag and "{<channel>}#history" otherwise, so both lie in the
-- channel's hash slot.  No username can make a channel of that name ('#'
-- and braces are not allowed in usernames), and a plain PUBLISH on the
-- user's own channel is never taken for a history message.
--
-- Ids.  "<epoch>-<n>", the stream entry's own id.  epoch is the time in
-- milliseconds when this history was created (again after it expired or
-- was lost, after a failover or restart of Redis, after a new load of
-- this library) followed by 6 digits that mark the server that wrote it;
-- n counts its messages from 0.  So a resume can tell a hole (a message
-- trimmed or never seen) from a history that is complete, and a new
-- master does not give out again the id of a message the old one lost
-- (unless both drew the same mark: one chance in a million).
--
local VERSION = 2
local DEFAULT_SIZE, DEFAULT_TTL = 100, 300
local MAX_SIZE, MAX_TTL = 1000000, 31536000

local cluster_mode = nil
local writer = nil	-- this Lua state's mark: 6 digits, at its first publish

local function history_name(channel)
	-- Redis hashes the text between the first '{' and the next '}', if
	-- that is not empty; otherwise the whole name.
	local open = string.find(channel, '{', 1, true)
	if open then
		local close = string.find(channel, '}', open + 1, true)
		if close and close > open + 1 then
			return channel .. '#history'
		end
	end
	if channel == '' or string.find(channel, '}', 1, true) then
		return nil	-- no name of ours hashes as this one does
	end
	return '{' .. channel .. '}#history'
end

local function name_of(keys)
	if #keys ~= 1 then
		return error('wspubsub: exactly one key, the channel, is expected')
	end
	local name = history_name(keys[1])
	if not name then
		return error('wspubsub: no history for a channel with "}" ' ..
		    'outside a hash tag')
	end
	return name
end

local function whole_number(arg, default, max, what)
	if arg == nil then
		return default
	end
	local n = tonumber(arg)
	if not n or n ~= math.floor(n) or n < 1 or n > max or
	    not string.match(arg, '^%d+$') then
		return error('wspubsub: ' .. what .. ' must be a whole ' ..
		    'number from 1 to ' .. max)
	end
	return n
end

-- "<epoch>-<n>" -> epoch, n (strings of digits), or nil.
local function split_id(id)
	return string.match(id, '^(%d+)-(%d+)$')
end

-- The value of field f of a stream entry, or nil.
local function field(entry, f)
	for j = 1, #entry[2], 2 do
		if entry[2][j] == f then
			return entry[2][j + 1]
		end
	end
	return nil
end

local function publish(keys, args)
	local name = name_of(keys)
	local payload = args[1]
	if payload == nil then
		return error('wspubsub: a payload is expected')
	end
	local size = whole_number(args[2], DEFAULT_SIZE, MAX_SIZE,
	    'history_size')
	local ttl = whole_number(args[3], DEFAULT_TTL, MAX_TTL, 'history_ttl')

	-- An epoch ends in the mark of the server (this library's Lua state)
	-- that began it: after a failover, a restart or a new load of the
	-- library the ids start a new epoch, so that an id the old master
	-- gave out and lost is not given out again.
	local t
	if writer == nil then
		t = redis.call('TIME')
		writer = string.format('%06d', tonumber(t[2]))
	end
	local epoch, last_epoch
	local newest = redis.call('XREVRANGE', name, '+', '-', 'COUNT', 1)
	if newest[1] then
		last_epoch = split_id(newest[1][1])
		if string.sub(last_epoch, -6) == writer then
			epoch = last_epoch
		end
	else
		redis.call('DEL', name)		-- emptied: start afresh
	end
	if not epoch then
		t = t or redis.call('TIME')
		local ms = tonumber(t[1]) * 1000 + math.floor(t[2] / 1000)
		local last_ms = last_epoch and
		    tonumber(string.sub(last_epoch, 1, -7))
		if last_ms and ms <= last_ms then
			ms = last_ms + 1	-- ids only grow
		end
		epoch = string.format('%d', ms) .. writer
	end
	local id = redis.call('XADD', name, 'MAXLEN', size, epoch .. '-*',
	    'd', payload)
	redis.call('EXPIRE', name, ttl)

	if cluster_mode == nil then
		cluster_mode = string.find(redis.call('INFO', 'cluster'),
		    'cluster_enabled:1', 1, true) ~= nil
	end
	redis.call(cluster_mode and 'SPUBLISH' or 'PUBLISH', name,
	    id .. '\n' .. payload)
	return id
end

local function flatten(entries, reversed)
	local out = {}
	local first, last, step = 1, #entries, 1
	if reversed then
		first, last, step = #entries, 1, -1
	end
	for i = first, last, step do
		table.insert(out, entries[i][1])
		table.insert(out, field(entries[i], 'd') or '')
	end
	return out
end

local function since(keys, args)
	local name = name_of(keys)
	local from = args[1] or ''
	local max = whole_number(args[2], 1000, MAX_SIZE, 'max')

	local newest = redis.call('XREVRANGE', name, '+', '-', 'COUNT', 1)
	local newest_id = newest[1] and newest[1][1] or ''
	if from == '' then
		return {'none', newest_id}
	end
	local epoch, n = split_id(from)
	if not epoch then
		return error('wspubsub: malformed id')
	end
	local status, entries, reversed
	if epoch == '0' then
		-- "0-0" stands for the time before this history began (wspubsub
		-- saw none): complete if its first message is still held.
		if newest_id == '' then
			return {'recovered', ''}
		end
		entries = redis.call('XRANGE', name, '-', '+', 'COUNT', max + 1)
		status = select(2, split_id(entries[1][1])) == '0' and
		    'recovered' or 'gap'
		if #entries > max then
			status = 'gap'
			entries = redis.call('XREVRANGE', name, '+', '-',
			    'COUNT', max)
			reversed = true
		end
	elseif newest_id == '' then
		return {'gap', ''}	-- expired, lost or never written
	else
		entries = redis.call('XRANGE', name, '(' .. from, '+', 'COUNT',
		    max + 1)
		-- Complete if the client's own message is still held, or the
		-- one right after it in its epoch (trimming removes the oldest
		-- first).  Anything else: trimmed, expired, lost with Redis'
		-- data or in a failover, or an id never given out here.
		local next_id = epoch .. '-' ..
		    string.format('%d', tonumber(n) + 1)
		if #redis.call('XRANGE', name, from, from) == 1 or
		    (entries[1] and entries[1][1] == next_id) then
			status = 'recovered'
		else
			status = 'gap'
		end
		if #entries > max then
			status = 'gap'
			entries = redis.call('XREVRANGE', name, '+',
			    '(' .. from, 'COUNT', max)
			reversed = true
		end
	end
	local out = {status, newest_id}
	for _, v in ipairs(flatten(entries, reversed)) do
		table.insert(out, v)
	end
	return out
end

local function version()
	return VERSION
end

redis.register_function('wspubsub_publish', publish)
redis.register_function{function_name = 'wspubsub_since',
    callback = since, flags = {'no-writes'}}
redis.register_function{function_name = 'wspubsub_version',
    callback = version, flags = {'no-writes'}}
