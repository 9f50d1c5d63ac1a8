"""``python -m services.gateway --proto FILE --backend HOST:PORT --port N``: see program.py."""

from .program import main

if __name__ == "__main__":
    main()
