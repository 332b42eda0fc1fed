"""Run every benchmark module in turn."""

from bench import effect_core, rooms, server, tasks

if __name__ == "__main__":
    effect_core.main()
    rooms.main()
    tasks.main()
    server.main([])
