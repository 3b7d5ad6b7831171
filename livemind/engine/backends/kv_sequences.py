"""The batch backend's KV cache, sequence by sequence: which one a prompt takes, what it keeps, what it copies.

One llama.cpp context holds `n_seq_max` sequences, each in its own KV stream (`Slot`: its id, the
tokens its cache holds, who uses it). What one prompt can take from what is already cached:

    pick(conversation, prompt)  the conversation's own sequence; else a free one already holding most
                                of this prompt (a prefix cache across requests); else an empty one
                                (lowest id); else the least recently used
    keep(slot, prompt)          cut the sequence's cache back to its common prefix with the prompt;
                                return how many tokens stay (only the rest is read)
    leader(seq, active)         the sequence whose cache holds, or is reading, the longest start of
                                this prompt, when copying it saves at least MIN_COPY_GAIN tokens
    copy_ready_starts(active)   once a leader holds the shared start, copy it: llama.cpp copies whole
                                streams (a partial range aborts the process), so the destination gets
                                the leader's whole stream, then is cut back to the shared start
    attach_twins(active)        samples of one prompt: the leader reads it, each twin copies its stream
                                after that step and samples its first token from the leader's logits
                                row, so the prompt is evaluated once however many samples there are
"""

from __future__ import annotations

from typing import Any

# the engine module sets the OpenMP wait policy before the library loads, so take llama_cpp from it
from livemind.engine.backends.llama_cpp import llama_cpp
from livemind.engine.backends.llama_sequence import DecodingSequence, Slot, common_prefix

MIN_SHARED_PREFIX = 16  # tokens a free sequence must share with a prompt to be picked for it
MIN_COPY_GAIN = 16
"""Tokens a copy from another sequence must save over the slot's own reuse to be made.

A copy moves one whole stream (n_ctx cells of every layer): about 5.6 ms for Qwen2.5-Coder-1.5B at
n_ctx 2048 with q8_0 KV (31 MB), measured as six copies queued before one decode step (2026-12-07,
AMD EPYC, 2 cores shared with an eval, load 8). Reading one prompt token costs about 7 ms there
(140 tokens/s prefill), so 16 tokens leave a wide margin for larger windows."""

Leader = DecodingSequence | Slot | None


class SequenceCache:
    """The sequences of one context and what their KV streams hold."""

    def __init__(self, memory: Any, n_seq_max: int, n_swa: int) -> None:
        self._memory = memory
        self._n_swa = n_swa
        self.slots = [Slot(seq_id=i) for i in range(n_seq_max)]
        self.reuse_kv = True  # keep a sequence's cache for the common prefix of its next prompt
        self.reuse_generated = True  # ... including the tokens it generated, not only those it read
        self.share_prefixes = n_swa == 0  # copy shared starts; a sliding-window cache keeps too little to copy

    def pick(self, conversation: str | None, prompt: list[int]) -> Slot:
        """The free sequence this prompt should take (see the module docstring for the order)."""
        idle = [s for s in self.slots if not s.is_busy]
        if conversation is not None:
            for slot in idle:
                if slot.conversation == conversation:
                    return slot
        if self.reuse_kv:
            shared, best = max(((common_prefix(s.tokens, prompt), s) for s in idle if s.conversation is None),
                               key=lambda pair: pair[0], default=(0, None))
            if best is not None and shared >= MIN_SHARED_PREFIX:
                return best
        # empty ones by id, so a batch after forget() lays out like the first one (its numerics follow the layout)
        return min(idle, key=lambda s: (1, s.last_used) if s.tokens else (0, s.seq_id))

    def keep(self, slot: Slot, prompt: list[int]) -> int:
        """Keep the slot's KV for the prompt's common prefix; return how many tokens are kept."""
        keep = common_prefix(slot.tokens, prompt) if self.reuse_kv else 0
        if not self.reuse_generated:
            keep = min(keep, slot.prefilled)
        keep = min(keep, len(prompt) - 1)  # the last prompt token is always read: it gives the logits
        if keep > 0 and self._n_swa > 0:
            # a sliding-window cache may have dropped what the kept prefix still needs
            pos_min = llama_cpp.llama_memory_seq_pos_min(self._memory, slot.seq_id)
            if pos_min > max(0, keep - self._n_swa):
                keep = 0
        if keep < len(slot.tokens) and not llama_cpp.llama_memory_seq_rm(self._memory, slot.seq_id, keep, -1):
            keep = 0
            llama_cpp.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
        del slot.tokens[keep:]
        slot.prefilled = min(slot.prefilled, keep)
        return keep

    def leader(self, seq: DecodingSequence, active: list[DecodingSequence]) -> tuple[int, Leader]:
        """The sequence whose cache holds (or is reading) the longest start of this prompt, if copying it pays.

        A sequence still reading the very same prompt is a twin: the whole prompt is shared (not
        its last token only) and the follower samples its first token from the leader's logits
        row (`attach_twins`), so samples of one prompt read it once.
        """
        limit = len(seq.prompt) - 1  # the last prompt token gives the logits: read unless a twin shares its row
        best: tuple[int, Leader] = (0, None)
        # readers first: on a tie the one really reading is followed, not another follower
        for other in sorted(active, key=lambda o: o.leader is not None):  # still reading its prompt: follow it
            if other.slot is not seq.slot and other.is_prefilling:
                if other.leader is None and other.prompt == seq.prompt:
                    return len(seq.prompt), other  # a twin from its first chunk on
                best = max(best, (min(common_prefix(other.prompt, seq.prompt), limit), other), key=lambda b: b[0])
        for slot in self.slots:  # already holds it
            if slot is not seq.slot:
                best = max(best, (min(common_prefix(slot.tokens, seq.prompt), limit), slot), key=lambda b: b[0])
        return best if best[0] - seq.reused >= MIN_COPY_GAIN else (0, None)

    def attach_twins(self, active: list[DecodingSequence]) -> list[DecodingSequence]:
        """Give each twin its leader's prompt once the leader has read it in the step just decoded.

        The twin takes a copy of the leader's stream (the prompt's cells, nothing else yet) and its
        logits row: it samples its first token from the row the leader samples from. Returns the twins.
        """
        attached = []
        for seq in active:
            leader = seq.leader
            if (not isinstance(leader, DecodingSequence) or seq.share != len(seq.prompt) or leader not in active
                    or leader.is_prefilling or not leader.feeding or leader.batch_index < 0):
                continue
            self._copy_stream(leader.slot.seq_id, seq.slot.seq_id, keep=len(seq.prompt))
            seq.slot.tokens[:] = seq.prompt
            seq.slot.prefilled = len(seq.prompt)
            seq.copied, seq.reused, seq.fed = len(seq.prompt), 0, len(seq.prompt)
            seq.leader, seq.batch_index = None, leader.batch_index
            attached.append(seq)
        return attached

    def copy_ready_starts(self, active: list[DecodingSequence]) -> None:
        """Copy each waiting prompt's start from its leader once the leader's cache holds it.

        The copy of the data itself runs at the start of the next llama_decode.
        """
        for seq in active:
            leader = seq.leader
            if leader is None:
                continue
            if isinstance(leader, DecodingSequence):
                if leader in active and leader.fed < seq.share and leader.is_prefilling:
                    continue  # the leader is still reading the shared part: wait for it
                leader = leader.slot
            seq.leader = None
            # a twin whose leader stopped reading (cancelled) copies what is there and reads the last token itself
            held = min(common_prefix(leader.tokens, seq.prompt), seq.share, len(seq.prompt) - 1)
            if held - seq.reused < MIN_COPY_GAIN:
                continue  # the leader was cancelled or moved on: read the prompt as usual
            self._copy_stream(leader.seq_id, seq.slot.seq_id, keep=held)
            seq.slot.tokens[:] = leader.tokens[:held]
            seq.slot.prefilled = min(leader.prefilled, held)
            seq.copied, seq.reused, seq.fed = held, 0, held

    def _copy_stream(self, source: int, dest: int, *, keep: int) -> None:
        """The only seq_cp call: whole streams (p0 = p1 = -1), then the destination cut at `keep`."""
        llama_cpp.llama_memory_seq_cp(self._memory, source, dest, -1, -1)
        llama_cpp.llama_memory_seq_rm(self._memory, dest, keep, -1)

    def cut(self, slot: Slot) -> None:
        """Remove the cells past what the slot records it holds (guesses that were not kept)."""
        llama_cpp.llama_memory_seq_rm(self._memory, slot.seq_id, len(slot.tokens), -1)

    def forget(self) -> None:
        """Drop every kept conversation (idle sequences only)."""
        for slot in self.slots:
            if not slot.is_busy and slot.tokens:
                llama_cpp.llama_memory_seq_rm(self._memory, slot.seq_id, -1, -1)
                slot.clear()
