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
-- Ids.  "<epoch>-<n>", the stream entry's own id: epoch is the time in
-- milliseconds when this history was created (again after it expired or
-- was lost), n counts its messages from 0.  So a resume can tell a hole
-- (a message trimmed or never seen) from a history that is complete, and
-- a history that was recreated from the one the client knew.
--
-- Another server.  Replication is asynchronous: a promoted replica may
-- lack the last messages its master published, and going on from its
-- newest id would issue those ids again, for other messages.  So each
-- entry records the replication id of the server that wrote it (field
-- r), and a server that finds another's (a failover, a restart, a slot
-- migration) starts a new epoch, later than the old one, whose first
-- entry names the newest entry it continues (field p): a client that
-- had that one has missed nothing, one that had later ids is told gap.
--
local VERSION = 2
local DEFAULT_SIZE, DEFAULT_TTL = 100, 300
local MAX_SIZE, MAX_TTL = 1000000, 31536000

local cluster_mode = nil

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

-- A field of a stream entry ({id, {name, value, ...}}), or nil.
local function field(entry, name)
	local f = entry[2]
	for j = 1, #f, 2 do
		if f[j] == name then
			return f[j + 1]
		end
	end
	return nil
end

-- This server's replication id: a new one after a promotion or restart.
local function replication_id()
	local info = redis.call('INFO', 'replication')
	return string.match(info, 'master_replid:(%x+)') or ''
end

local function now_ms()
	local t = redis.call('TIME')
	return t[1] .. string.format('%03d', math.floor(t[2] / 1000))
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

	local epoch, prev
	local replid = replication_id()
	local newest = redis.call('XREVRANGE', name, '+', '-', 'COUNT', 1)
	if newest[1] then
		epoch = split_id(newest[1][1])
	end
	if not epoch then
		-- A new history (or an emptied one): a new epoch.
		redis.call('DEL', name)
		epoch = now_ms()
	elseif field(newest[1], 'r') ~= replid then
		-- Written by another server, which may have gone further.
		prev = newest[1][1]
		local t = now_ms()
		if tonumber(t) <= tonumber(epoch) then
			t = string.format('%d', tonumber(epoch) + 1)
		end
		epoch = t
	end
	local id
	if prev then
		id = redis.call('XADD', name, 'MAXLEN', size, epoch .. '-*',
		    'd', payload, 'r', replid, 'p', prev)
	else
		id = redis.call('XADD', name, 'MAXLEN', size, epoch .. '-*',
		    'd', payload, 'r', replid)
	end
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
		    not field(entries[1], 'p') and 'recovered' or 'gap'
		if #entries > max then
			status = 'gap'
			entries = redis.call('XREVRANGE', name, '+', '-',
			    'COUNT', max)
			reversed = true
		end
	elseif newest_id == '' then
		return {'gap', ''}	-- expired, lost or never written
	else
		-- What follows the client's id, in its epoch or later ones (a
		-- recreated history's epoch is later: all of it is new).
		entries = redis.call('XRANGE', name, '(' .. from, '+', 'COUNT',
		    max + 1)
		if #entries == 0 then
			status = from == newest_id and 'recovered' or 'gap'
		else
			-- Complete if the message right after the client's is
			-- still held (trimming removes the oldest first), or
			-- the epoch that continues the client's id.
			local next_id = epoch .. '-' ..
			    string.format('%d', tonumber(n) + 1)
			status = (entries[1][1] == next_id or
			    field(entries[1], 'p') == from) and 'recovered' or
			    'gap'
			if #entries > max then
				status = 'gap'
				entries = redis.call('XREVRANGE', name, '+',
				    '(' .. from, 'COUNT', max)
				reversed = true
			end
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
