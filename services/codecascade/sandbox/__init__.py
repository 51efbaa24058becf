"""The sandbox service: runs untrusted solutions against assert tests in gVisor."""
