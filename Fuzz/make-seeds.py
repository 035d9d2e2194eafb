#!/usr/bin/env python3
"""Writes the seed corpora (Fuzz/corpus/<target>/): one realistic delivery per shape each platform sends, in the
input layout FuzzTargets expects (first byte = header variant, then the body; verifiers: header lines, then body)."""
import hashlib, hmac, json, os, urllib.parse

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def put(target, name, data):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f: f.write(data if isinstance(data, bytes) else data.encode())

def j(o): return json.dumps(o, separators=(",", ":")).encode()

mention = {"token": "t", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback", "event_id": "Ev01", "event_time": 1700000000,
           "event": {"type": "app_mention", "user": "U0ALICE", "text": "<@U0BOT> how do I roll back a deploy?", "ts": "1700000000.000100", "channel": "C0001", "event_ts": "1700000000.000100", "thread_ts": "1699999999.000100"}}
dm = {"token": "t", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback", "event_id": "Ev02", "event_time": 1700000001,
      "event": {"type": "message", "channel_type": "im", "channel": "D0ALICE", "user": "U0ALICE", "text": "publish abc v2", "ts": "1700000001.000100"}}
put("slack-events", "mention", b"\x00" + j(mention))
put("slack-events", "mention-retry", b"\x03" + j(mention))
put("slack-events", "dm", b"\x00" + j(dm))
put("slack-events", "url-verification", b"\x00" + j({"type": "url_verification", "token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}))
put("slack-events", "bot-message", b"\x00" + j({**dm, "event": {**dm["event"], "bot_id": "B0BOT", "subtype": "bot_message"}}))
form = lambda pairs: urllib.parse.urlencode(pairs).encode()
cmd = [("token", "t"), ("team_id", "T0001"), ("channel_id", "C0001"), ("user_id", "U0ALICE"), ("user_name", "alice"), ("command", "/approve"),
       ("text", "fdDzf0xHxLrB5oPvFxY5TM v2"), ("response_url", "https://hooks.slack.com/commands/T0001/1/x"), ("trigger_id", "123.456.abc"), ("api_app_id", "A0001")]
put("slack-commands", "approve", b"\x00" + form(cmd))
put("slack-commands", "drafts", b"\x00" + form([(k, "/drafts" if k == "command" else ("" if k == "text" else v)) for k, v in cmd]))
put("slack-commands", "revise", b"\x00" + form([(k, "/revise" if k == "command" else ("abc new text with \"quotes\"\nand lines" if k == "text" else v)) for k, v in cmd]))
action = {"type": "block_actions", "user": {"id": "U0BOB", "username": "bob"}, "api_app_id": "A0001", "team": {"id": "T0001"}, "token": "t", "trigger_id": "1.2.3",
          "container": {"type": "message", "message_ts": "1.2", "channel_id": "D0BOB"}, "actions": [{"type": "button", "action_id": "approve", "block_id": "b", "value": "abc:2:deadbeef", "action_ts": "1.3"}]}
put("slack-interactions", "approve-button", b"\x00" + form([("payload", json.dumps(action))]))
put("slack-interactions", "view-submission", b"\x00" + form([("payload", json.dumps({"type": "view_submission", "user": {"id": "U0BOB"}, "view": {"callback_id": "x", "state": {"values": {}}}}))]))
secret = b"fuzz-signing-secret"; body = j(mention); ts = b"1700000000"
sig = b"v0=" + hmac.new(secret, b"v0:" + ts + b":" + body, hashlib.sha256).hexdigest().encode()
put("slack-signature", "valid", ts + b"\n" + sig + b"\n" + body)
put("slack-signature", "stale", b"1600000000\n" + sig + b"\n" + body)
put("slack-signature", "garbage", b"abc\nv1=zz\n{}")
mm = {"token": "fuzz-webhook-token", "team_id": "t", "channel_id": "c" * 26, "channel_name": "ops", "post_id": "p" * 26, "user_id": "u" * 26, "user_name": "alice",
      "text": "@airlock how do I roll back a deploy?", "trigger_word": "@airlock", "timestamp": 1700000000000, "file_ids": ""}
put("mattermost-webhook", "json", b"\x00" + j(mm))
put("mattermost-webhook", "form", b"\x01" + form([(k, str(v)) for k, v in mm.items()]))
put("mattermost-commands", "approve", b"\x00" + form([("token", "fuzz-command-token"), ("team_id", "t"), ("channel_id", "c" * 26), ("user_id", "u" * 26), ("user_name", "bob"), ("command", "/airlock"), ("text", "approve abc v1"), ("response_url", "https://mm/hooks/x"), ("trigger_id", "tr")]))
post = {"post": {"id": 42, "username": "alice", "topic_id": 7, "post_number": 3, "raw": "@airlock how do I roll back a deploy?", "cooked": "<p>@airlock how</p>", "reply_to_post_number": None,
                 "topic_archetype": "regular", "user_id": 5, "post_type": 1, "created_at": "2026-12-02T10:00:00Z", "updated_at": "2026-12-02T10:00:00Z"}}
put("mattermost-commands", "drafts", b"\x00" + form([("token", "fuzz-command-token"), ("team_id", "t"), ("channel_id", "c" * 26), ("user_id", "u" * 26), ("user_name", "bob"), ("command", "/airlock"), ("text", "drafts"), ("response_url", "https://mm/hooks/x")]))
put("mattermost-commands", "wrong-token", b"\x00" + form([("token", "nope"), ("user_id", "u" * 26), ("command", "/airlock"), ("text", "publish x")]))
put("discourse", "post-created", b"\x00" + j(post))
put("discourse", "post-edited", b"\x01" + j(post))
put("discourse", "private-message", b"\x00" + j({"post": {**post["post"], "topic_archetype": "private_message", "raw": "approve abc v1"}}))
put("discourse", "ping", b"\x04" + j({"ping": "OK"}))
disc = {"action": "created", "discussion": {"id": 1, "node_id": "D_kwDOA", "number": 9, "title": "t", "body": "@airlock-bot how?", "user": {"login": "octocat", "type": "User"}},
        "comment": {"id": 2, "node_id": "DC_kwDOA", "body": "@airlock-bot how do I roll back a deploy?", "user": {"login": "octocat", "type": "User"}, "parent_id": None},
        "repository": {"full_name": "o/r", "node_id": "R_1"}, "sender": {"login": "octocat", "type": "User"}}
put("github", "discussion-comment", b"\x01" + j(disc))
put("github", "discussion", b"\x00" + j({k: v for k, v in disc.items() if k != "comment"}))
put("github", "issue-comment", b"\x02" + j({**disc, "issue": {"number": 3}}))
put("github", "ping", b"\x03" + j({"zen": "Keep it logically awesome.", "hook_id": 1}))
gh_body = b"Hello, World!"
put("body-signature", "github-doc-vector", b"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n" + gh_body)
put("body-signature", "bad-prefix", b"sha1=00\n" + gh_body)
put("body-signature", "valid", b"sha256=" + hmac.new(b"fuzz-body-secret", j(post), hashlib.sha256).hexdigest().encode() + b"\n" + j(post))
put("discord", "ping", b"\x00" + j({"id": "1", "application_id": "2", "type": 1, "version": 1, "token": "tok"}))
put("discord", "ask", b"\x00" + j({"id": "111111111111111111", "application_id": "222222222222222222", "type": 2, "token": "tok", "version": 1, "channel_id": "333333333333333333",
                                     "guild_id": "444444444444444444", "member": {"user": {"id": "555555555555555555", "username": "alice"}},
                                     "data": {"id": "6", "name": "ask", "type": 1, "options": [{"name": "question", "type": 3, "value": "how do I roll back a deploy?"}]}}))
put("discord", "approve-dm", b"\x00" + j({"id": "1", "application_id": "2", "type": 2, "token": "tok", "version": 1, "channel_id": "3", "user": {"id": "555555555555555555"},
                                            "data": {"name": "approve", "options": [{"name": "draft", "type": 3, "value": "abc"}, {"name": "version", "type": 4, "value": 2}]}}))
# RFC 8032 test 1: empty message, signature over timestamp+body is not valid here, which is the point (refusals).
put("discord-signature", "rfc8032-shaped", b"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b\n1700000000\n")
put("discord-signature", "short", b"00\n1\n{}")
mx = {"events": [{"type": "m.room.message", "sender": "@alice:fuzz", "room_id": "!ops:fuzz", "event_id": "$q1", "origin_server_ts": 1,
                  "content": {"msgtype": "m.text", "body": "@airlock:fuzz how do I roll back a deploy?", "m.mentions": {"user_ids": ["@airlock:fuzz"]},
                              "m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}},
                 {"type": "m.room.member", "sender": "@alice:fuzz", "room_id": "!dm:fuzz", "state_key": "@airlock:fuzz", "event_id": "$m1", "content": {"membership": "invite", "is_direct": True}}]}
put("matrix", "transaction", b"\x00" + j(mx))
put("matrix", "empty", b"\x00" + j({"events": []}))
print("seeds written to", root)
