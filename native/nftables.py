"""libnftables through cffi (ABI mode): run nft command buffers in-process, one transaction each.

This is the only place kubelite talks to nftables. ``Nftables.run`` hands a whole command text
(``add table ...; add chain ...``) to ``nft_run_cmd_from_buffer``; libnftables applies it as one atomic
transaction, so a failed batch changes nothing. Output and errors are buffered by the library and
returned or raised as ``NftablesError`` with nft's own message.

ABI mode needs no compiler: only ``libnftables.so.1`` (Debian: ``libnftables1``) at run time.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import cffi

_CDEF = """
typedef struct nft_ctx nft_ctx;
struct nft_ctx *nft_ctx_new(uint32_t flags);
void nft_ctx_free(struct nft_ctx *ctx);
int nft_run_cmd_from_buffer(struct nft_ctx *nft, const char *buf);
int nft_ctx_buffer_output(struct nft_ctx *ctx);
int nft_ctx_unbuffer_output(struct nft_ctx *ctx);
const char *nft_ctx_get_output_buffer(struct nft_ctx *ctx);
int nft_ctx_buffer_error(struct nft_ctx *ctx);
int nft_ctx_unbuffer_error(struct nft_ctx *ctx);
const char *nft_ctx_get_error_buffer(struct nft_ctx *ctx);
unsigned int nft_ctx_output_get_flags(struct nft_ctx *ctx);
void nft_ctx_output_set_flags(struct nft_ctx *ctx, unsigned int flags);
bool nft_ctx_get_dry_run(struct nft_ctx *ctx);
void nft_ctx_set_dry_run(struct nft_ctx *ctx, bool dry);
"""

NFT_CTX_DEFAULT = 0
# output flags (nftables.h)
NFT_CTX_OUTPUT_HANDLE = 1 << 3
NFT_CTX_OUTPUT_JSON = 1 << 4

LIBRARY_NAMES = ("libnftables.so.1", "libnftables.so")

_ffi = cffi.FFI()
_ffi.cdef(_CDEF)
_lib: Any = None
_lib_lock = threading.Lock()


class NftablesError(RuntimeError):
    """nft rejected a command buffer; ``message`` is nft's own error text."""

    def __init__(self, message: str, *, commands: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.commands = commands


class NftablesUnavailable(NftablesError):
    """libnftables could not be loaded on this host."""


def load_library() -> Any:
    """Open libnftables once per process; raise ``NftablesUnavailable`` with the reason."""
    global _lib
    with _lib_lock:
        if _lib is None:
            errors = []
            for name in LIBRARY_NAMES:
                try:
                    _lib = _ffi.dlopen(name)
                    break
                except OSError as exc:
                    errors.append(f"{name}: {exc}")
            else:
                raise NftablesUnavailable(
                    "libnftables not found (" + "; ".join(errors) + "); install libnftables1")
        return _lib


def available() -> bool:
    try:
        load_library()
    except NftablesUnavailable:
        return False
    return True


class Nftables:
    """One libnftables context. Not thread-safe: use one per thread (or guard it)."""

    def __init__(self, *, json_output: bool = False, handles: bool = False) -> None:
        self._lib = load_library()
        ctx = self._lib.nft_ctx_new(NFT_CTX_DEFAULT)
        if ctx == _ffi.NULL:
            raise NftablesError("nft_ctx_new failed")
        self._ctx = ctx
        self._lib.nft_ctx_buffer_output(ctx)
        self._lib.nft_ctx_buffer_error(ctx)
        flags = 0
        if json_output:
            flags |= NFT_CTX_OUTPUT_JSON
        if handles:
            flags |= NFT_CTX_OUTPUT_HANDLE
        if flags:
            self._lib.nft_ctx_output_set_flags(ctx, flags)

    def run(self, commands: str, *, dry_run: bool = False) -> str:
        """Apply ``commands`` (nft syntax or JSON) as one transaction; return nft's output text."""
        if self._ctx is None:
            raise NftablesError("nftables context is closed")
        self._lib.nft_ctx_set_dry_run(self._ctx, dry_run)
        try:
            rc = self._lib.nft_run_cmd_from_buffer(self._ctx, commands.encode())
        finally:
            self._lib.nft_ctx_set_dry_run(self._ctx, False)
        out = self._read(self._lib.nft_ctx_get_output_buffer(self._ctx))
        err = self._read(self._lib.nft_ctx_get_error_buffer(self._ctx))
        if rc != 0:
            raise NftablesError(err.strip() or f"nft failed with code {rc}", commands=commands)
        return out

    @staticmethod
    def _read(buf: Any) -> str:
        return "" if buf == _ffi.NULL else str(_ffi.string(buf).decode(errors="replace"))

    def close(self) -> None:
        if self._ctx is not None:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None

    def __enter__(self) -> Nftables:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
