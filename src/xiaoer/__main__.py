from xiaoer.cli import main

main()
