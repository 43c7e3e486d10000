"""The handle ``Tensor.register_hook`` returns, on both backends."""


class RemovableHandle:
    """``handle.remove()`` unregisters the hook; removing twice does nothing.

    Also a context manager: the hook is registered inside the ``with`` block.
    """

    __slots__ = ("_tensor", "id")

    def __init__(self, tensor, hook_id: int):
        self._tensor = tensor
        self.id = hook_id

    def remove(self) -> None:
        if self._tensor is not None:
            self._tensor._remove_hook(self.id)
            self._tensor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    def __repr__(self) -> str:
        return f"<RemovableHandle id={self.id}{' (removed)' if self._tensor is None else ''}>"
