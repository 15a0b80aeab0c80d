import PolicyCLI

Portcullis.start()
